/* SPDX-License-Identifier: MIT */
/* tcpstate: the RFC 9293 connection states and their names. */
#ifndef FL_TCPSTATE_H
#define FL_TCPSTATE_H

enum tcpstate {
	TCPSTATE_CLOSED = 0,
	TCPSTATE_LISTEN,
	TCPSTATE_SYN_SENT,
	TCPSTATE_SYN_RECEIVED,
	TCPSTATE_ESTABLISHED,
	TCPSTATE_FIN_WAIT_1,
	TCPSTATE_FIN_WAIT_2,
	TCPSTATE_CLOSE_WAIT,
	TCPSTATE_CLOSING,
	TCPSTATE_LAST_ACK,
	TCPSTATE_TIME_WAIT,
	TCPSTATE__COUNT,
};

/* "ESTABLISHED", "TIME_WAIT", ... (static string). */
const char *tcpstate_name(enum tcpstate s);
/*
 * Parse a state name, case-insensitive, '-' and '_' alike
 * ("LAST_ACK", "last-ack"). Returns the state or -1.
 */
int tcpstate_parse(const char *name);

#endif
