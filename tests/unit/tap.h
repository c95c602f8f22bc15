/*
 * tap: the smallest TAP producer.  Each check prints "ok N - name" or
 * "not ok N - name"; tests/run.sh counts those lines.
 */
#ifndef REKEY_TAP_H
#define REKEY_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define TAP_OK(cond, ...) do {						\
	int tap_c_ = (cond) ? 1 : 0;					\
	tap_n++;							\
	if (!tap_c_)							\
		tap_failed++;						\
	printf("%s %d - ", tap_c_ ? "ok" : "not ok", tap_n);		\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	if (!tap_c_)							\
		printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	fflush(stdout);							\
} while (0)

#define TAP_STR_EQ(a, b, ...) do {					\
	const char *tap_a_ = (a), *tap_b_ = (b);			\
	int tap_e_ = tap_a_ != NULL && tap_b_ != NULL && strcmp(tap_a_, tap_b_) == 0; \
	TAP_OK(tap_e_, __VA_ARGS__);					\
	if (!tap_e_)							\
		printf("#   got \"%s\", want \"%s\"\n", tap_a_ ? tap_a_ : "(null)", \
		    tap_b_ ? tap_b_ : "(null)");			\
} while (0)

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed == 0 ? 0 : 1;
}

#endif
