// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>

#include "args.h"

Test(args, split_at_the_first_double_dash)
{
	char *a[] = { "wrap", "-r", "udp => drop", "--", "sh", "-c", "x -- y", "--", NULL };

	cr_assert_eq(args_split(8, a, 1), 3);
	/* A later "--" is the command's own word. */
	cr_assert_eq(args_split(8, a, 4), 7);
}

Test(args, split_without_double_dash)
{
	char *a[] = { "wrap", "-r", "udp => drop", "true", NULL };
	char *b[] = { "wrap", "--", NULL };

	cr_assert_eq(args_split(4, a, 1), -1);
	/* Nothing after it: the caller says which command is missing. */
	cr_assert_eq(args_split(2, b, 1), 1);
	/* argv[0] is the subcommand's name, never the separator. */
	cr_assert_eq(args_split(2, (char *[]){ "--", "x", NULL }, 1), -1);
}
