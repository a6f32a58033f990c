/* transport_pipe - alias "|command" recipients.
 *
 * The command runs with /bin/sh -c in a child that has become
 * default_privs (user and group, no supplementary groups), in its own
 * process group, with a clean environment (SENDER, RECIPIENT, USER, HOME,
 * SHELL, PATH, LOGNAME as local(8) sets them), the message on stdin
 * preceded by From_, Return-Path, X-Original-To and Delivered-To lines as
 * Postfix's local(8) writes them, and a time limit (command_time_limit,
 * default 1000s).  Exit 0 = delivered; exit 75 (EX_TEMPFAIL), a signal or
 * the time limit = TEMP; any other exit = PERM with the command's first
 * output line.  Only a root process can run it (the caller checks that the
 * queue run was started by root). */
#ifndef SATMAIL_TRANSPORT_PIPE_H
#define SATMAIL_TRANSPORT_PIPE_H

#include "conf.h"
#include "envelope.h"
#include "status.h"

void transport_pipe_run(const struct conf *c, const struct envelope *e,
    const struct rcpt *r, int msg_fd, long long msg_offset, struct status *result);



/* Alias "/file" recipients: appended in mbox format (From_ line, the
 * delivery headers, ">From " quoting, an empty line at the end) by a child
 * that became default_privs; the file is created 0600 when missing, must
 * be a regular file with one link, is fcntl-locked, fsync'd, and cut back
 * to its old size on any error. */
void transport_file_run(const struct conf *c, const struct envelope *e,
    const struct rcpt *r, int msg_fd, long long msg_offset, struct status *result);
#endif
