/*
 * The service manager's readiness protocol: one datagram of NAME=VALUE
 * lines to the unix socket named by $NOTIFY_SOCKET (systemd's Type=notify;
 * a name starting with '@' is in the abstract namespace). Without the
 * variable there is no service manager to tell, and nothing happens.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib.h"

/*
 * Sends STATE ("READY=1", "RELOADING=1\nMONOTONIC_USEC=...", "STOPPING=1").
 * Returns 0 when sent or when no manager asked, -1 (logged) on failure.
 */
int
notify_service(const char *state)
{
	struct sockaddr_un	 sun;
	const char		*path = getenv("NOTIFY_SOCKET");
	size_t			 len;
	socklen_t		 salen;
	ssize_t			 n;
	int			 fd;

	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof sun.sun_path) {
		log_warn("NOTIFY_SOCKET is not a unix socket path; not notifying");
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("notify: socket: %s", strerror(errno));
		return -1;
	}
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, salen);
	close(fd);
	if (n < 0) {
		log_warn("notify: cannot reach the service manager: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}
