/*
 * IMAGE as the commands take it — [ENTRY/]REPOSITORY[:TAG][@DIGEST] —
 * resolved the way a client's route would be (registry_route: an entry's
 * name or id, a namespace an entry claims, else the parent or the
 * default entry); the name is the entry's (registry_upstream_name: Docker
 * Hub's library/; a parent's registry_parent_key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

int
imageref_parse(struct config *c, const char *arg, struct registry **rp,
    struct reference *ref, char **cause)
{
	struct registry		*r;
	enum registry_rule	 rule;
	size_t			 strip;

	r = registry_route(&c->registries, arg, &strip, &rule);
	arg += strip;
	if (reference_parse(arg, ref, cause) != 0)
		return -1;
	if (r->is_parent && registry_parent_key(NULL, ref->name, ref->name,
	    sizeof ref->name, cause) != 0)
		return -1;
	if (registry_upstream_name(r, ref->name, ref->name,
	    sizeof ref->name) != 0) {
		*cause = util_printf("name too long");
		return -1;
	}
	*rp = r;
	return 0;
}
