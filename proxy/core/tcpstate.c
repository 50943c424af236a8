// SPDX-License-Identifier: MIT
#include <ctype.h>

#include "tcpstate.h"

static const char *const names[TCPSTATE__COUNT] = {
	[TCPSTATE_CLOSED] = "CLOSED",
	[TCPSTATE_LISTEN] = "LISTEN",
	[TCPSTATE_SYN_SENT] = "SYN_SENT",
	[TCPSTATE_SYN_RECEIVED] = "SYN_RECEIVED",
	[TCPSTATE_ESTABLISHED] = "ESTABLISHED",
	[TCPSTATE_FIN_WAIT_1] = "FIN_WAIT_1",
	[TCPSTATE_FIN_WAIT_2] = "FIN_WAIT_2",
	[TCPSTATE_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCPSTATE_CLOSING] = "CLOSING",
	[TCPSTATE_LAST_ACK] = "LAST_ACK",
	[TCPSTATE_TIME_WAIT] = "TIME_WAIT",
};

const char *tcpstate_name(enum tcpstate s)
{
	if ((unsigned)s >= TCPSTATE__COUNT)
		return "?";
	return names[s];
}

static int same_name(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		int ca = *a == '-' ? '_' : toupper((unsigned char)*a);
		int cb = *b == '-' ? '_' : toupper((unsigned char)*b);
		if (ca != cb)
			return 0;
	}
	return *a == *b;
}

int tcpstate_parse(const char *name)
{
	for (int i = 0; i < TCPSTATE__COUNT; i++)
		if (same_name(name, names[i]))
			return i;
	return -1;
}
