// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

Test(progress, run_line_names_each_rule_and_its_drops)
{
	char line[256];

	cr_assert_eq(progress_run_line("{\"packets\":1234,\"held_now\":7,\"rules\":["
				       "{\"index\":1,\"name\":\"slow-db\",\"dropped\":12},"
				       "{\"index\":2,\"name\":\"\",\"dropped\":0}]}",
				       line, sizeof(line)), 0);
	cr_assert_str_eq(line, "1234 packets, 7 held now, dropped: slow-db 12, rule 2 0");
}

Test(progress, run_line_without_rules)
{
	char line[256];

	cr_assert_eq(progress_run_line("{\"packets\":0,\"held_now\":0,\"rules\":[]}", line, sizeof(line)), 0);
	cr_assert_str_eq(line, "0 packets, 0 held now");
}

Test(progress, run_line_refuses_what_is_not_the_counters)
{
	char line[16] = "x";

	cr_assert_eq(progress_run_line("not json", line, sizeof(line)), -1);
	cr_assert_str_eq(line, "");
	cr_assert_eq(progress_run_line("{\"packets\":\"1\",\"held_now\":0,\"rules\":[]}", line, sizeof(line)), -1);
}

Test(progress, run_line_is_cut_to_the_buffer)
{
	char line[12];

	cr_assert_eq(progress_run_line("{\"packets\":123456789,\"held_now\":1,\"rules\":[]}", line, sizeof(line)), 0);
	cr_assert_eq(strlen(line), sizeof(line) - 1);
}

/* The last call always prints, with the totals, and ends the line. */
Test(progress, replay_last_line_has_the_totals)
{
	struct replay_progress p = { .read = 5000, .offset = 4096, .size = 4096, .done = true };
	struct progress_meter m;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	progress_meter_init(&m, f, "in.pcap");
	progress_replay(&p, &m);
	cr_assert_eq(fclose(f), 0);
	cr_assert(!strncmp(text, "\rfaultline: replay: 5000 packets, 100% of in.pcap", 49), "%s", text);
	cr_assert_eq(text[len - 1], '\n');
	cr_assert_not(m.shown);
	free(text);
}

/* A pipe has no size: no percentage, the rest as usual. */
Test(progress, replay_of_a_pipe_has_no_percentage)
{
	struct replay_progress p = { .read = 3, .offset = 100, .size = -1, .done = true };
	struct progress_meter m;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	progress_meter_init(&m, f, "-");
	progress_replay(&p, &m);
	cr_assert_eq(fclose(f), 0);
	cr_assert(!strncmp(text, "\rfaultline: replay: 3 packets", 29), "%s", text);
	cr_assert_null(strstr(text, "%"));
	free(text);
}
