/*
 * keyset: digests that tell keys apart (a NUL between two parts included),
 * a set that adds once, finds what it holds and nothing else through its
 * growth, and empties.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "lib/keyset.h"

int
main(void)
{
	struct keyset s = KEYSET_INIT;
	char key[32];
	int i, added = 0, found = 0, strangers = 0;

	TAP_OK(keyset_digest2("inc", "g1") == keyset_digest("inc\0g1", 6),
	    "a digest of two parts is that of both with a NUL between");
	TAP_OK(keyset_digest2("inc", "g1") != keyset_digest2("inc", "g10") &&
	    keyset_digest2("in", "cg1") != keyset_digest2("inc", "g1") &&
	    keyset_digest("", 0) != 0, "parts told apart; no digest is 0");
	TAP_OK(!keyset_has(&s, 42), "an empty set holds nothing");
	TAP_OK(keyset_add(&s, 42) == 1 && keyset_add(&s, 42) == 0 && keyset_has(&s, 42),
	    "added once, then found");
	TAP_OK(keyset_add(&s, 0) == 1 && keyset_has(&s, 0) && keyset_has(&s, 1),
	    "0 is stored as 1");
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "grant-%d", i);
		added += keyset_add(&s, keyset_digest(key, strlen(key)));
	}
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "grant-%d", i);
		found += keyset_has(&s, keyset_digest(key, strlen(key)));
		snprintf(key, sizeof(key), "grant-%d", i + 10000);
		strangers += keyset_has(&s, keyset_digest(key, strlen(key)));
	}
	TAP_OK(added == 10000 && found == 10000 && strangers == 0,
	    "10,000 keys through its growth: all added, all found, no other (%d %d %d)",
	    added, found, strangers);
	TAP_OK(s.n == 10002 && s.cap >= 2 * s.n, "it counts them and stays at most half full");
	keyset_clear(&s);
	TAP_OK(s.n == 0 && !keyset_has(&s, 42), "cleared, it holds nothing");
	TAP_OK(keyset_add(&s, 7) == 1 && keyset_has(&s, 7), "and can be used again");
	keyset_clear(&s);
	return tap_done();
}
