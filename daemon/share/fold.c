/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keywords: file names folded to lower case without accents so that a search for
 * "Beyonce" finds "BEYONCÉ.mp3" (issue 6: case- and accent-insensitive match). */
#include "config.h"

#include <string.h>

#include "share/share-private.h"

/* U+00C0–U+00FF: base letter, '*' for a two-letter folding, ' ' for × and ÷. */
static const char latin1[64] = "aaaaaa*ceeeeiiii"
			       "dnooooo ouuuuy**"
			       "aaaaaa*ceeeeiiii"
			       "dnooooo ouuuuy*y";
/* U+0100–U+017F (Latin Extended-A), same convention. */
static const char latin_ext_a[128] = "aaaaaaccccccccdd"
				     "ddeeeeeeeeeegggg"
				     "gggghhhhiiiiiiii"
				     "ii**jjkkklllllll"
				     "lllnnnnnnnnnoooo"
				     "oo**rrrrrrssssss"
				     "ssttttttuuuuuuuu"
				     "uuuuwwyyyzzzzzzs";

static const char *two_letters(unsigned cp)
{
	switch (cp) {
	case 0xc6:
	case 0xe6:
		return "ae";
	case 0xde:
	case 0xfe:
		return "th";
	case 0xdf:
		return "ss";
	case 0x132:
	case 0x133:
		return "ij";
	case 0x152:
	case 0x153:
		return "oe";
	default:
		return "  ";
	}
}

/* Decode one 2-byte UTF-8 sequence (all of U+0080–U+07FF); 0 if @p s is not one. */
static unsigned decode2(const unsigned char *s)
{
	if ((s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80 && s[0] >= 0xc2)
		return (unsigned)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	return 0;
}

/* The folding of code point @p cp as 1–2 ASCII bytes, or NULL to keep it as it is. */
static const char *fold_cp(unsigned cp, char one[2])
{
	char c;

	if (cp >= 0x80 && cp < 0xc0)
		c = ' '; /* Latin-1 punctuation, NBSP, symbols: separators */
	else if (cp >= 0xc0 && cp < 0x100)
		c = latin1[cp - 0xc0];
	else if (cp >= 0x100 && cp < 0x180)
		c = latin_ext_a[cp - 0x100];
	else
		return NULL;
	if (c == '*')
		return two_letters(cp);
	one[0] = c;
	one[1] = '\0';
	return one;
}

static size_t put(char *out, size_t size, size_t o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && o + 1 < size; i++)
		out[o++] = s[i]; // NOLINT(clang-analyzer-core.uninitialized.Assign): s is a C string
	return o;
}

size_t share_fold(const char *in, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;

	if (size == 0)
		return 0;
	while (*s && o + 1 < size) {
		char one[2], c = (char)*s;
		unsigned cp = *s >= 0x80 ? decode2(s) : 0;
		const char *f = cp ? fold_cp(cp, one) : NULL;

		if (*s < 0x80) {
			c = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
				c = ' ';
			out[o++] = c;
			s++;
		} else if (f) {
			o = put(out, size, o, f, strlen(f));
			s += 2;
		} else {
			out[o++] = (char)*s++; /* other scripts and stray bytes: kept as they are */
		}
	}
	out[o] = '\0';
	return o;
}

size_t share_words(char *s, const char **words, size_t max)
{
	size_t n = 0;

	for (char *p = s; *p && n < max;) {
		char *w;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		w = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = '\0';
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			dup = strcmp(words[i], w) == 0;
		if (!dup)
			words[n++] = w;
	}
	return n;
}
