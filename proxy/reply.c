/*
 * Response helpers: the headers every registry answer carries and OCI
 * error bodies. Error messages never carry secrets: callers pass only
 * entry names, repository names and reasons.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "proxy.h"

void
reply_headers(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_remove_header(h, "Docker-Distribution-API-Version");
	evhttp_add_header(h, "Docker-Distribution-API-Version", "registry/2.0");
}

void
reply_json(struct evhttp_request *req, int status, struct evbuffer *body)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	reply_headers(req);
	evhttp_remove_header(h, "Content-Type");
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_send_reply(req, status, NULL, body);
}

/* {"errors":[{"code":CODE,"message":MESSAGE}]} with the given status. */
void
reply_error(struct evhttp_request *req, int status, const char *code,
    const char *message)
{
	struct evbuffer	*body;
	json_t		*root;
	char		*text;

	body = evbuffer_new();
	root = json_pack("{s:[{s:s, s:s}]}", "errors", "code", code,
	    "message", message);
	text = (root != NULL) ? json_dumps(root, JSON_COMPACT) : NULL;
	if (body != NULL && text != NULL)
		evbuffer_add_printf(body, "%s\n", text);
	free(text);
	json_decref(root);
	reply_json(req, status, body);
	if (body != NULL)
		evbuffer_free(body);
}
