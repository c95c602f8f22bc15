/*
 * strset: adds once, finds what it holds and nothing else (keys with NUL
 * bytes and prefixes of each other included), keeps every key as it grows,
 * and empties.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "lib/strset.h"

int
main(void)
{
	struct strset s = STRSET_INIT;
	char key[32];
	int i, added = 0, found = 0, strangers = 0;

	TAP_OK(!strset_has(&s, "a", 1), "an empty set holds nothing");
	TAP_OK(strset_add(&s, "inc\0g1", 6) == 1, "a key with a NUL is added");
	TAP_OK(strset_add(&s, "inc\0g1", 6) == 0, "and not twice");
	TAP_OK(strset_has(&s, "inc\0g1", 6), "it is found");
	TAP_OK(!strset_has(&s, "inc", 3) && !strset_has(&s, "inc\0g", 5) &&
	    !strset_has(&s, "inc\0g10", 7), "its prefixes and extensions are not");
	TAP_OK(strset_add(&s, "", 0) == 1 && strset_has(&s, "", 0), "the empty key is a key");
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "grant-%d", i);
		added += strset_add(&s, key, strlen(key));
	}
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "grant-%d", i);
		found += strset_has(&s, key, strlen(key));
		snprintf(key, sizeof(key), "grant-%d", i + 10000);
		strangers += strset_has(&s, key, strlen(key));
	}
	TAP_OK(added == 10000 && found == 10000 && strangers == 0,
	    "10,000 keys through its growth: all added, all found, no other (%d %d %d)",
	    added, found, strangers);
	TAP_OK(s.n == 10002 && s.cap >= 2 * s.n, "it counts them and stays at most half full");
	strset_clear(&s);
	TAP_OK(s.n == 0 && !strset_has(&s, "grant-1", 7) && !strset_has(&s, "inc\0g1", 6),
	    "cleared, it holds nothing");
	TAP_OK(strset_add(&s, "grant-1", 7) == 1 && strset_has(&s, "grant-1", 7),
	    "and can be used again");
	strset_clear(&s);
	return tap_done();
}
