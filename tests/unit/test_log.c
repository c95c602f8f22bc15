/*
 * log: the line's format.  time, level and msg always; req, app, incident
 * and rotation as fields of their own when given, left out when NULL or
 * empty; every value JSON-escaped (quotes, backslashes, control bytes), so
 * each line parses; a long message is cut, never a field; an id longer than
 * LOG_ID_MAX is cut whole-escape.  Each line is checked as text here and as
 * JSON by the integration tests.
 */
#include "tap.h"
#include "lib/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 2026-12-05T01:02:03.045Z */
#define T_MS ((int64_t)1796432523045)

static void
test_fields(void)
{
	char line[LOG_LINE_MAX];

	log_format(line, sizeof(line), LOG_LEVEL_INFO, T_MS, NULL, "plain");
	TAP_STR_EQ(line, "{\"time\":\"2026-12-05T01:02:03.045Z\",\"level\":\"info\",\"msg\":\"plain\"}\n",
	    "no ids: time, level and msg only");

	log_format(line, sizeof(line), LOG_LEVEL_WARN, T_MS, &(struct log_ids){ .app = "prod",
	    .rotation = "r-1" }, "rotation r-1: testing");
	TAP_STR_EQ(line, "{\"time\":\"2026-12-05T01:02:03.045Z\",\"level\":\"warn\",\"msg\":"
	    "\"rotation r-1: testing\",\"app\":\"prod\",\"rotation\":\"r-1\"}\n",
	    "app and rotation as fields; req and incident left out");

	log_format(line, sizeof(line), LOG_LEVEL_ERROR, T_MS, &(struct log_ids){ .req = "abc",
	    .app = "prod", .incident = "i-9", .rotation = "r-2" }, "m");
	TAP_STR_EQ(line, "{\"time\":\"2026-12-05T01:02:03.045Z\",\"level\":\"error\",\"msg\":\"m\","
	    "\"req\":\"abc\",\"app\":\"prod\",\"incident\":\"i-9\",\"rotation\":\"r-2\"}\n",
	    "all four, in a fixed order");

	log_format(line, sizeof(line), LOG_LEVEL_DEBUG, T_MS, &(struct log_ids){ .app = "",
	    .incident = "i-1" }, "m");
	TAP_STR_EQ(line, "{\"time\":\"2026-12-05T01:02:03.045Z\",\"level\":\"debug\",\"msg\":\"m\","
	    "\"incident\":\"i-1\"}\n", "an empty app is left out like a NULL one");
}

static void
test_escaping(void)
{
	char line[LOG_LINE_MAX];

	log_format(line, sizeof(line), LOG_LEVEL_INFO, T_MS, &(struct log_ids){
	    .app = "a\"b\\c", .incident = "i\n\x01", .rotation = "r\x7f" }, "say \"hi\"\tnow");
	TAP_STR_EQ(line, "{\"time\":\"2026-12-05T01:02:03.045Z\",\"level\":\"info\",\"msg\":"
	    "\"say \\\"hi\\\"\\u0009now\",\"app\":\"a\\\"b\\\\c\",\"incident\":\"i\\n\\u0001\","
	    "\"rotation\":\"r\\u007f\"}\n", "quotes, backslashes and control bytes escaped in "
	    "msg and in every field");
}

static void
test_bounds(void)
{
	char line[LOG_LINE_MAX], *msg = malloc(LOG_MSG_MAX * 3), id[LOG_ID_MAX * 2];
	size_t len;

	memset(msg, '"', LOG_MSG_MAX * 3 - 1);
	msg[LOG_MSG_MAX * 3 - 1] = '\0';
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	log_format(line, sizeof(line), LOG_LEVEL_INFO, T_MS, &(struct log_ids){ .app = "prod",
	    .rotation = id }, msg);
	len = strlen(line);
	TAP_OK(len < sizeof(line) && line[len - 1] == '\n' && line[len - 2] == '}',
	    "a huge message and id still make one closed line (%zu bytes)", len);
	TAP_OK(strstr(line, "\",\"app\":\"prod\",\"rotation\":\"xxx") != NULL,
	    "the fields are kept after a cut message");
	TAP_OK(strstr(line, "\\\"\",\"app\"") != NULL, "the message is cut between escapes, "
	    "never inside one");
	TAP_OK(strlen(strstr(line, "\"rotation\":\"")) - strlen("\"rotation\":\"\"}\n") <=
	    LOG_ID_MAX && strstr(line, "\"rotation\":\"xxxxxxxxxx") != NULL,
	    "an id is cut to LOG_ID_MAX");

	log_format(line, 120, LOG_LEVEL_INFO, T_MS, &(struct log_ids){ .app = "prod",
	    .rotation = "a-rotation-id-that-does-not-fit" }, "short");
	TAP_OK(strstr(line, "rotation") == NULL && strstr(line, "\"app\":\"prod\"") != NULL &&
	    strcmp(line + strlen(line) - 2, "}\n") == 0,
	    "in a short buffer a field that does not fit is left out whole: %s", line);
	free(msg);
}

int
main(void)
{
	test_fields();
	test_escaping();
	test_bounds();
	return tap_done();
}
