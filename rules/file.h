/* SPDX-License-Identifier: MIT */
/*
 * file: rule files read from the file system. Not part of the pure core
 * (faultline_core opens no file): its own small library, which hands the
 * text to rule_set_load().
 */
#ifndef FL_RULE_FILE_H
#define FL_RULE_FILE_H

#include "rule.h"

/*
 * Parse the rule file at path (borrowed by err). On the first error
 * returns -EINVAL (a bad line, a line over RULE_MAX_LINE bytes), -EFBIG
 * (more than RULE_MAX_FILE bytes), -E2BIG (more than RULE_MAX_RULES rules in
 * the set), -EISDIR, or -errno if the file cannot be opened or read; err
 * says where and why, and the set is unchanged.
 */
int rule_set_load_file(struct rule_set *rs, const char *path, struct rule_error *err);

#endif
