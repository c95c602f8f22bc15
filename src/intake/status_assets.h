/*
 * status_assets: the status page's files, compiled into rekey.  The
 * Makefile turns src/intake/status_page.html, .css, .js and .svg (its icon)
 * into these arrays
 * (handler/embed.sh), so the files stay editable as what they are and
 * nothing is read from disk or fetched at run time.  Each array ends with
 * a NUL that its _len does not count.
 */
#ifndef REKEY_INTAKE_STATUS_ASSETS_H
#define REKEY_INTAKE_STATUS_ASSETS_H

#include <stddef.h>

extern const unsigned char status_page_html[];
extern const size_t status_page_html_len;
extern const unsigned char status_page_css[];
extern const size_t status_page_css_len;
extern const unsigned char status_page_js[];
extern const size_t status_page_js_len;
extern const unsigned char status_page_svg[];
extern const size_t status_page_svg_len;

#endif
