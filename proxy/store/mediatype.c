/*
 * Manifest media types: which types are manifests the store keeps, and
 * the Accept header that asks a registry for any of them. One list, used
 * by the daemon's upstream requests and by the commands.
 */
#include <string.h>

#include "store.h"

static const char *mediatype_manifests[] = {
	MEDIATYPE_OCI_INDEX,
	MEDIATYPE_OCI_MANIFEST,
	MEDIATYPE_DOCKER_LIST,
	MEDIATYPE_DOCKER_MANIFEST,
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	"application/vnd.docker.distribution.manifest.v1+json",
	NULL
};

/* The Accept header line for a manifest request (schema 1 not wanted). */
const char mediatype_accept_header[] = "Accept: " MEDIATYPE_OCI_INDEX ", "
    MEDIATYPE_OCI_MANIFEST ", " MEDIATYPE_DOCKER_LIST ", "
    MEDIATYPE_DOCKER_MANIFEST;

int
mediatype_is_manifest(const char *type)
{
	int	i;

	for (i = 0; mediatype_manifests[i] != NULL; i++)
		if (strcmp(type, mediatype_manifests[i]) == 0)
			return 1;
	return 0;
}

/* An index lists manifests, an image manifest lists layers. */
const char *
mediatype_guess(int has_manifests, int has_layers)
{
	if (has_manifests)
		return MEDIATYPE_OCI_INDEX;
	if (has_layers)
		return MEDIATYPE_OCI_MANIFEST;
	return NULL;
}
