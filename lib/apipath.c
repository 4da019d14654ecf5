/*
 * The path of a /v2/ API request, after "/v2/" and percent-decoding:
 * "<name>/manifests/<ref>", "<name>/blobs/<digest>", "<name>/tags/list",
 * "<name>/referrers/<digest>", and the upload paths (refused later). The
 * name is checked here; the reference by whoever uses it.
 */
#include <string.h>

#include "lib.h"

static int
apipath_fail(struct apipath *ap, int status, const char *code,
    const char *message)
{
	ap->status = status;
	ap->code = code;
	ap->message = message;
	return -1;
}

/* 0, or -1 with the HTTP status, OCI code and message to answer with. */
int
apipath_parse(const char *path, struct apipath *ap)
{
	char		 buf[APIPATH_MAX + 1], *p, *ref = NULL;
	size_t		 len;

	memset(ap, 0, sizeof *ap);
	if ((len = strlen(path)) == 0 || len > APIPATH_MAX)
		return apipath_fail(ap, 400, "NAME_INVALID", "malformed path");
	memcpy(buf, path, len + 1);
	if ((p = strstr(buf, "/blobs/uploads")) != NULL &&
	    (p[14] == '\0' || p[14] == '/')) {
		ap->kind = APIPATH_UPLOAD;
		*p = '\0';
	} else if (len > 10 && strcmp(buf + len - 10, "/tags/list") == 0) {
		ap->kind = APIPATH_TAGS;
		buf[len - 10] = '\0';
	} else if ((p = strrchr(buf, '/')) != NULL && p > buf) {
		ref = p + 1;
		*p = '\0';
		if ((p = strrchr(buf, '/')) == NULL)
			return apipath_fail(ap, 404, "NAME_UNKNOWN",
			    "unknown API path");
		*p = '\0';
		if (strcmp(p + 1, "manifests") == 0)
			ap->kind = APIPATH_MANIFEST;
		else if (strcmp(p + 1, "blobs") == 0)
			ap->kind = APIPATH_BLOB;
		else if (strcmp(p + 1, "referrers") == 0)
			ap->kind = APIPATH_REFERRERS;
		else
			return apipath_fail(ap, 404, "NAME_UNKNOWN",
			    "unknown API path");
	} else
		return apipath_fail(ap, 404, "NAME_UNKNOWN", "unknown API path");
	if (util_strlcpy(ap->repo, buf, sizeof ap->repo) != 0 ||
	    !reference_valid_name(ap->repo))
		return apipath_fail(ap, 400, "NAME_INVALID",
		    "invalid repository name");
	if (ref != NULL && (ref[0] == '\0' ||
	    util_strlcpy(ap->ref, ref, sizeof ap->ref) != 0))
		return apipath_fail(ap, 400, "TAG_INVALID", "invalid reference");
	return 0;
}
