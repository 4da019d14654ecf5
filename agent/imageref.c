/*
 * IMAGE as the commands take it — [ENTRY/]REPOSITORY[:TAG][@DIGEST] —
 * resolved the way a client's route would be: a first component naming a
 * registry entry (name or id) selects it, else the default entry; the
 * name is the entry's (registry_upstream_name: Docker Hub's library/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

int
imageref_parse(struct config *c, const char *arg, struct registry **rp,
    struct reference *ref, char **cause)
{
	struct registry	*r = NULL;
	const char	*slash = strchr(arg, '/');
	char		 first[REGISTRY_NAME_MAX];

	if (slash != NULL && (size_t)(slash - arg) < sizeof first) {
		memcpy(first, arg, (size_t)(slash - arg));
		first[slash - arg] = '\0';
		if ((r = registry_lookup(&c->registries, first)) != NULL)
			arg = slash + 1;
	}
	if (r == NULL)
		r = registry_default(&c->registries);
	if (reference_parse(arg, ref, cause) != 0)
		return -1;
	if (registry_upstream_name(r, ref->name, ref->name,
	    sizeof ref->name) != 0) {
		*cause = util_printf("name too long");
		return -1;
	}
	*rp = r;
	return 0;
}
