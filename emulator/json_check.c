/* Invoke payload validation that words its failures exactly as Lambda's parser does (see
 * json_check.h). It mirrors jackson-core's UTF8StreamJsonParser as driven by databind's
 * ObjectMapper.readTree(byte[]) (JsonNodeDeserializer), 2.9.10 unless JSON_CHECK_JACKSON picks a
 * later version: the same checks in the same order, the same messages and positions, quirks
 * included (in 2.9 each end-of-input probe moves the column on by the payload length,
 * jackson-core#455; a field name's UTF-8 is checked only after its closing quote; the character
 * after a literal is decoded starting at the wrong byte). Method names in comments are Jackson's.
 *
 * Not reproduced: a payload whose first four bytes hold 0x00 or a UTF-16/32 BOM (Jackson decodes
 * it as UTF-16/32 and parses chars); a NUL inside the message (dropped: a C string cannot carry
 * it); an invalid field name whose last quad, 0xFF-padded by Jackson's symbol table, matches a name
 * the table already holds (Jackson then takes it unchecked, so it depends on earlier requests).
 *
 * One pass over the bytes, no recursion (an explicit, growable context stack stands in for the
 * parser's JsonReadContext chain and the deserializer's recursion) and no allocation unless the
 * nesting is deeper than JC_INLINE_DEPTH or the payload is rejected. Errors unwind with longjmp
 * the way Jackson throws. Content after the first complete value is ignored, as readTree does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/json_check.h"
#include "lemu/util.h"

#define JC_SNIPPET 500      /* JsonLocation.MAX_CONTENT_SNIPPET */
#define JC_MAX_TOKEN 256    /* ParserMinimalBase.MAX_ERROR_TOKEN_LENGTH */
#define JC_INLINE_DEPTH 64

/* What a value may be, in the three places Jackson lists it */
#if JSON_CHECK_JACKSON >= 210
#define JC_EXPECT_TOKEN "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
#define JC_EXPECT_LITERAL JC_EXPECT_TOKEN
#define JC_EXPECT_VALUE JC_EXPECT_TOKEN
#else
#define JC_EXPECT_TOKEN "('true', 'false' or 'null')"
#define JC_EXPECT_LITERAL "'null', 'true', 'false' or NaN"
#define JC_EXPECT_VALUE "(number, String, array, object, 'true', 'false' or 'null')"
#endif
#define JC_NON_NUMERIC "enable JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS to allow"

enum jc_token {
  JC_NOT_AVAILABLE, /* printed "null": no token read yet */
  JC_START_OBJECT,
  JC_END_OBJECT,
  JC_START_ARRAY,
  JC_END_ARRAY,
  JC_FIELD_NAME,
  JC_VALUE_STRING,
  JC_VALUE_NUMBER_INT,
  JC_VALUE_NUMBER_FLOAT,
  JC_VALUE_TRUE,
  JC_VALUE_FALSE,
  JC_VALUE_NULL,
  JC_END_OF_INPUT,
};

static const char *const jc_token_names[] = {
  "null", "START_OBJECT", "END_OBJECT", "START_ARRAY", "END_ARRAY", "FIELD_NAME", "VALUE_STRING",
  "VALUE_NUMBER_INT", "VALUE_NUMBER_FLOAT", "VALUE_TRUE", "VALUE_FALSE", "VALUE_NULL", "null",
};

/* JsonReadContext: kind ('r' root, '[' or '{'), where it started, and whether an entry was seen
 * (so the next one needs a comma). */
struct jc_context {
  char kind;
  bool seen;
  size_t line;
  long long col;
};

/* The bytes of the current field name as ByteQuadsCanonicalizer's addName() decodes them after the
 * closing quote: the first problem is remembered while scanning and reported at the end. */
struct jc_name {
  size_t n;          /* bytes so far */
  uint32_t quad;     /* bytes of the current 4-byte quad so far */
  int need;          /* continuation bytes still due in the current sequence */
  int cont;          /* continuation bytes seen in it */
  int seq_len;       /* continuation bytes it needs in all */
  size_t lead;       /* index of its lead byte */
  int err;           /* 0, JC_NAME_START or JC_NAME_MIDDLE */
  uint32_t err_value;
  size_t err_lead;
  int err_seq_len;
};
#define JC_NAME_START 1
#define JC_NAME_MIDDLE 2

struct jc {
  const unsigned char *p;
  size_t len, ptr;         /* _inputEnd, _inputPtr */
  size_t row;              /* _currInputRow */
  long long row_start;     /* _currInputRowStart: goes negative past the end (see jc_more) */
  size_t tok_row;          /* _tokenInputRow, _tokenInputCol: where a container starts */
  long long tok_col;
  enum jc_token curr;      /* _currToken, named in some end-of-input messages */
  struct jc_context *ctx;  /* ctx[0] is the root; ctx[depth] the innermost */
  size_t depth, cap;
  struct jc_context inline_ctx[JC_INLINE_DEPTH + 1];
  struct jc_name name;
  char *src;               /* the "[Source: ...]" description, built on first use */
  char *start;             /* a context's start location quoted in the message */
  char *detail;
  jmp_buf fail;
};

/* Character.isJavaIdentifierPart() over the BMP (JDK 17, Unicode 13), as inclusive ranges. */
static const uint16_t jc_ident_part[][2] = {
  {0x0000, 0x0008}, {0x000e, 0x001b}, {0x0024, 0x0024}, {0x0030, 0x0039}, {0x0041, 0x005a},
  {0x005f, 0x005f}, {0x0061, 0x007a}, {0x007f, 0x009f}, {0x00a2, 0x00a5}, {0x00aa, 0x00aa},
  {0x00ad, 0x00ad}, {0x00b5, 0x00b5}, {0x00ba, 0x00ba}, {0x00c0, 0x00d6}, {0x00d8, 0x00f6},
  {0x00f8, 0x02c1}, {0x02c6, 0x02d1}, {0x02e0, 0x02e4}, {0x02ec, 0x02ec}, {0x02ee, 0x02ee},
  {0x0300, 0x0374}, {0x0376, 0x0377}, {0x037a, 0x037d}, {0x037f, 0x037f}, {0x0386, 0x0386},
  {0x0388, 0x038a}, {0x038c, 0x038c}, {0x038e, 0x03a1}, {0x03a3, 0x03f5}, {0x03f7, 0x0481},
  {0x0483, 0x0487}, {0x048a, 0x052f}, {0x0531, 0x0556}, {0x0559, 0x0559}, {0x0560, 0x0588},
  {0x058f, 0x058f}, {0x0591, 0x05bd}, {0x05bf, 0x05bf}, {0x05c1, 0x05c2}, {0x05c4, 0x05c5},
  {0x05c7, 0x05c7}, {0x05d0, 0x05ea}, {0x05ef, 0x05f2}, {0x0600, 0x0605}, {0x060b, 0x060b},
  {0x0610, 0x061a}, {0x061c, 0x061c}, {0x0620, 0x0669}, {0x066e, 0x06d3}, {0x06d5, 0x06dd},
  {0x06df, 0x06e8}, {0x06ea, 0x06fc}, {0x06ff, 0x06ff}, {0x070f, 0x074a}, {0x074d, 0x07b1},
  {0x07c0, 0x07f5}, {0x07fa, 0x07fa}, {0x07fd, 0x082d}, {0x0840, 0x085b}, {0x0860, 0x086a},
  {0x08a0, 0x08b4}, {0x08b6, 0x08c7}, {0x08d3, 0x0963}, {0x0966, 0x096f}, {0x0971, 0x0983},
  {0x0985, 0x098c}, {0x098f, 0x0990}, {0x0993, 0x09a8}, {0x09aa, 0x09b0}, {0x09b2, 0x09b2},
  {0x09b6, 0x09b9}, {0x09bc, 0x09c4}, {0x09c7, 0x09c8}, {0x09cb, 0x09ce}, {0x09d7, 0x09d7},
  {0x09dc, 0x09dd}, {0x09df, 0x09e3}, {0x09e6, 0x09f3}, {0x09fb, 0x09fc}, {0x09fe, 0x09fe},
  {0x0a01, 0x0a03}, {0x0a05, 0x0a0a}, {0x0a0f, 0x0a10}, {0x0a13, 0x0a28}, {0x0a2a, 0x0a30},
  {0x0a32, 0x0a33}, {0x0a35, 0x0a36}, {0x0a38, 0x0a39}, {0x0a3c, 0x0a3c}, {0x0a3e, 0x0a42},
  {0x0a47, 0x0a48}, {0x0a4b, 0x0a4d}, {0x0a51, 0x0a51}, {0x0a59, 0x0a5c}, {0x0a5e, 0x0a5e},
  {0x0a66, 0x0a75}, {0x0a81, 0x0a83}, {0x0a85, 0x0a8d}, {0x0a8f, 0x0a91}, {0x0a93, 0x0aa8},
  {0x0aaa, 0x0ab0}, {0x0ab2, 0x0ab3}, {0x0ab5, 0x0ab9}, {0x0abc, 0x0ac5}, {0x0ac7, 0x0ac9},
  {0x0acb, 0x0acd}, {0x0ad0, 0x0ad0}, {0x0ae0, 0x0ae3}, {0x0ae6, 0x0aef}, {0x0af1, 0x0af1},
  {0x0af9, 0x0aff}, {0x0b01, 0x0b03}, {0x0b05, 0x0b0c}, {0x0b0f, 0x0b10}, {0x0b13, 0x0b28},
  {0x0b2a, 0x0b30}, {0x0b32, 0x0b33}, {0x0b35, 0x0b39}, {0x0b3c, 0x0b44}, {0x0b47, 0x0b48},
  {0x0b4b, 0x0b4d}, {0x0b55, 0x0b57}, {0x0b5c, 0x0b5d}, {0x0b5f, 0x0b63}, {0x0b66, 0x0b6f},
  {0x0b71, 0x0b71}, {0x0b82, 0x0b83}, {0x0b85, 0x0b8a}, {0x0b8e, 0x0b90}, {0x0b92, 0x0b95},
  {0x0b99, 0x0b9a}, {0x0b9c, 0x0b9c}, {0x0b9e, 0x0b9f}, {0x0ba3, 0x0ba4}, {0x0ba8, 0x0baa},
  {0x0bae, 0x0bb9}, {0x0bbe, 0x0bc2}, {0x0bc6, 0x0bc8}, {0x0bca, 0x0bcd}, {0x0bd0, 0x0bd0},
  {0x0bd7, 0x0bd7}, {0x0be6, 0x0bef}, {0x0bf9, 0x0bf9}, {0x0c00, 0x0c0c}, {0x0c0e, 0x0c10},
  {0x0c12, 0x0c28}, {0x0c2a, 0x0c39}, {0x0c3d, 0x0c44}, {0x0c46, 0x0c48}, {0x0c4a, 0x0c4d},
  {0x0c55, 0x0c56}, {0x0c58, 0x0c5a}, {0x0c60, 0x0c63}, {0x0c66, 0x0c6f}, {0x0c80, 0x0c83},
  {0x0c85, 0x0c8c}, {0x0c8e, 0x0c90}, {0x0c92, 0x0ca8}, {0x0caa, 0x0cb3}, {0x0cb5, 0x0cb9},
  {0x0cbc, 0x0cc4}, {0x0cc6, 0x0cc8}, {0x0cca, 0x0ccd}, {0x0cd5, 0x0cd6}, {0x0cde, 0x0cde},
  {0x0ce0, 0x0ce3}, {0x0ce6, 0x0cef}, {0x0cf1, 0x0cf2}, {0x0d00, 0x0d0c}, {0x0d0e, 0x0d10},
  {0x0d12, 0x0d44}, {0x0d46, 0x0d48}, {0x0d4a, 0x0d4e}, {0x0d54, 0x0d57}, {0x0d5f, 0x0d63},
  {0x0d66, 0x0d6f}, {0x0d7a, 0x0d7f}, {0x0d81, 0x0d83}, {0x0d85, 0x0d96}, {0x0d9a, 0x0db1},
  {0x0db3, 0x0dbb}, {0x0dbd, 0x0dbd}, {0x0dc0, 0x0dc6}, {0x0dca, 0x0dca}, {0x0dcf, 0x0dd4},
  {0x0dd6, 0x0dd6}, {0x0dd8, 0x0ddf}, {0x0de6, 0x0def}, {0x0df2, 0x0df3}, {0x0e01, 0x0e3a},
  {0x0e3f, 0x0e4e}, {0x0e50, 0x0e59}, {0x0e81, 0x0e82}, {0x0e84, 0x0e84}, {0x0e86, 0x0e8a},
  {0x0e8c, 0x0ea3}, {0x0ea5, 0x0ea5}, {0x0ea7, 0x0ebd}, {0x0ec0, 0x0ec4}, {0x0ec6, 0x0ec6},
  {0x0ec8, 0x0ecd}, {0x0ed0, 0x0ed9}, {0x0edc, 0x0edf}, {0x0f00, 0x0f00}, {0x0f18, 0x0f19},
  {0x0f20, 0x0f29}, {0x0f35, 0x0f35}, {0x0f37, 0x0f37}, {0x0f39, 0x0f39}, {0x0f3e, 0x0f47},
  {0x0f49, 0x0f6c}, {0x0f71, 0x0f84}, {0x0f86, 0x0f97}, {0x0f99, 0x0fbc}, {0x0fc6, 0x0fc6},
  {0x1000, 0x1049}, {0x1050, 0x109d}, {0x10a0, 0x10c5}, {0x10c7, 0x10c7}, {0x10cd, 0x10cd},
  {0x10d0, 0x10fa}, {0x10fc, 0x1248}, {0x124a, 0x124d}, {0x1250, 0x1256}, {0x1258, 0x1258},
  {0x125a, 0x125d}, {0x1260, 0x1288}, {0x128a, 0x128d}, {0x1290, 0x12b0}, {0x12b2, 0x12b5},
  {0x12b8, 0x12be}, {0x12c0, 0x12c0}, {0x12c2, 0x12c5}, {0x12c8, 0x12d6}, {0x12d8, 0x1310},
  {0x1312, 0x1315}, {0x1318, 0x135a}, {0x135d, 0x135f}, {0x1380, 0x138f}, {0x13a0, 0x13f5},
  {0x13f8, 0x13fd}, {0x1401, 0x166c}, {0x166f, 0x167f}, {0x1681, 0x169a}, {0x16a0, 0x16ea},
  {0x16ee, 0x16f8}, {0x1700, 0x170c}, {0x170e, 0x1714}, {0x1720, 0x1734}, {0x1740, 0x1753},
  {0x1760, 0x176c}, {0x176e, 0x1770}, {0x1772, 0x1773}, {0x1780, 0x17d3}, {0x17d7, 0x17d7},
  {0x17db, 0x17dd}, {0x17e0, 0x17e9}, {0x180b, 0x180e}, {0x1810, 0x1819}, {0x1820, 0x1878},
  {0x1880, 0x18aa}, {0x18b0, 0x18f5}, {0x1900, 0x191e}, {0x1920, 0x192b}, {0x1930, 0x193b},
  {0x1946, 0x196d}, {0x1970, 0x1974}, {0x1980, 0x19ab}, {0x19b0, 0x19c9}, {0x19d0, 0x19d9},
  {0x1a00, 0x1a1b}, {0x1a20, 0x1a5e}, {0x1a60, 0x1a7c}, {0x1a7f, 0x1a89}, {0x1a90, 0x1a99},
  {0x1aa7, 0x1aa7}, {0x1ab0, 0x1abd}, {0x1abf, 0x1ac0}, {0x1b00, 0x1b4b}, {0x1b50, 0x1b59},
  {0x1b6b, 0x1b73}, {0x1b80, 0x1bf3}, {0x1c00, 0x1c37}, {0x1c40, 0x1c49}, {0x1c4d, 0x1c7d},
  {0x1c80, 0x1c88}, {0x1c90, 0x1cba}, {0x1cbd, 0x1cbf}, {0x1cd0, 0x1cd2}, {0x1cd4, 0x1cfa},
  {0x1d00, 0x1df9}, {0x1dfb, 0x1f15}, {0x1f18, 0x1f1d}, {0x1f20, 0x1f45}, {0x1f48, 0x1f4d},
  {0x1f50, 0x1f57}, {0x1f59, 0x1f59}, {0x1f5b, 0x1f5b}, {0x1f5d, 0x1f5d}, {0x1f5f, 0x1f7d},
  {0x1f80, 0x1fb4}, {0x1fb6, 0x1fbc}, {0x1fbe, 0x1fbe}, {0x1fc2, 0x1fc4}, {0x1fc6, 0x1fcc},
  {0x1fd0, 0x1fd3}, {0x1fd6, 0x1fdb}, {0x1fe0, 0x1fec}, {0x1ff2, 0x1ff4}, {0x1ff6, 0x1ffc},
  {0x200b, 0x200f}, {0x202a, 0x202e}, {0x203f, 0x2040}, {0x2054, 0x2054}, {0x2060, 0x2064},
  {0x2066, 0x206f}, {0x2071, 0x2071}, {0x207f, 0x207f}, {0x2090, 0x209c}, {0x20a0, 0x20bf},
  {0x20d0, 0x20dc}, {0x20e1, 0x20e1}, {0x20e5, 0x20f0}, {0x2102, 0x2102}, {0x2107, 0x2107},
  {0x210a, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211d}, {0x2124, 0x2124}, {0x2126, 0x2126},
  {0x2128, 0x2128}, {0x212a, 0x212d}, {0x212f, 0x2139}, {0x213c, 0x213f}, {0x2145, 0x2149},
  {0x214e, 0x214e}, {0x2160, 0x2188}, {0x2c00, 0x2c2e}, {0x2c30, 0x2c5e}, {0x2c60, 0x2ce4},
  {0x2ceb, 0x2cf3}, {0x2d00, 0x2d25}, {0x2d27, 0x2d27}, {0x2d2d, 0x2d2d}, {0x2d30, 0x2d67},
  {0x2d6f, 0x2d6f}, {0x2d7f, 0x2d96}, {0x2da0, 0x2da6}, {0x2da8, 0x2dae}, {0x2db0, 0x2db6},
  {0x2db8, 0x2dbe}, {0x2dc0, 0x2dc6}, {0x2dc8, 0x2dce}, {0x2dd0, 0x2dd6}, {0x2dd8, 0x2dde},
  {0x2de0, 0x2dff}, {0x2e2f, 0x2e2f}, {0x3005, 0x3007}, {0x3021, 0x302f}, {0x3031, 0x3035},
  {0x3038, 0x303c}, {0x3041, 0x3096}, {0x3099, 0x309a}, {0x309d, 0x309f}, {0x30a1, 0x30fa},
  {0x30fc, 0x30ff}, {0x3105, 0x312f}, {0x3131, 0x318e}, {0x31a0, 0x31bf}, {0x31f0, 0x31ff},
  {0x3400, 0x4dbf}, {0x4e00, 0x9ffc}, {0xa000, 0xa48c}, {0xa4d0, 0xa4fd}, {0xa500, 0xa60c},
  {0xa610, 0xa62b}, {0xa640, 0xa66f}, {0xa674, 0xa67d}, {0xa67f, 0xa6f1}, {0xa717, 0xa71f},
  {0xa722, 0xa788}, {0xa78b, 0xa7bf}, {0xa7c2, 0xa7ca}, {0xa7f5, 0xa827}, {0xa82c, 0xa82c},
  {0xa838, 0xa838}, {0xa840, 0xa873}, {0xa880, 0xa8c5}, {0xa8d0, 0xa8d9}, {0xa8e0, 0xa8f7},
  {0xa8fb, 0xa8fb}, {0xa8fd, 0xa92d}, {0xa930, 0xa953}, {0xa960, 0xa97c}, {0xa980, 0xa9c0},
  {0xa9cf, 0xa9d9}, {0xa9e0, 0xa9fe}, {0xaa00, 0xaa36}, {0xaa40, 0xaa4d}, {0xaa50, 0xaa59},
  {0xaa60, 0xaa76}, {0xaa7a, 0xaac2}, {0xaadb, 0xaadd}, {0xaae0, 0xaaef}, {0xaaf2, 0xaaf6},
  {0xab01, 0xab06}, {0xab09, 0xab0e}, {0xab11, 0xab16}, {0xab20, 0xab26}, {0xab28, 0xab2e},
  {0xab30, 0xab5a}, {0xab5c, 0xab69}, {0xab70, 0xabea}, {0xabec, 0xabed}, {0xabf0, 0xabf9},
  {0xac00, 0xd7a3}, {0xd7b0, 0xd7c6}, {0xd7cb, 0xd7fb}, {0xf900, 0xfa6d}, {0xfa70, 0xfad9},
  {0xfb00, 0xfb06}, {0xfb13, 0xfb17}, {0xfb1d, 0xfb28}, {0xfb2a, 0xfb36}, {0xfb38, 0xfb3c},
  {0xfb3e, 0xfb3e}, {0xfb40, 0xfb41}, {0xfb43, 0xfb44}, {0xfb46, 0xfbb1}, {0xfbd3, 0xfd3d},
  {0xfd50, 0xfd8f}, {0xfd92, 0xfdc7}, {0xfdf0, 0xfdfc}, {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f},
  {0xfe33, 0xfe34}, {0xfe4d, 0xfe4f}, {0xfe69, 0xfe69}, {0xfe70, 0xfe74}, {0xfe76, 0xfefc},
  {0xfeff, 0xfeff}, {0xff04, 0xff04}, {0xff10, 0xff19}, {0xff21, 0xff3a}, {0xff3f, 0xff3f},
  {0xff41, 0xff5a}, {0xff66, 0xffbe}, {0xffc2, 0xffc7}, {0xffca, 0xffcf}, {0xffd2, 0xffd7},
  {0xffda, 0xffdc}, {0xffe0, 0xffe1}, {0xffe5, 0xffe6}, {0xfff9, 0xfffb},
};

static bool jc_is_ident_part(unsigned cu)
{
  size_t lo = 0, hi = sizeof(jc_ident_part) / sizeof(jc_ident_part[0]);

  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cu < jc_ident_part[mid][0])
      hi = mid;
    else if (cu > jc_ident_part[mid][1])
      lo = mid + 1;
    else
      return true;
  }
  return false;
}

/* Character.isJavaIdentifierStart() of a byte read as ISO-8859-1, which is what
 * _handleUnexpectedValue() asks of a raw (undecoded) byte. */
static bool jc_is_ident_start_byte(int ch)
{
  return ch == '$' || ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
         (ch >= 0xa2 && ch <= 0xa5) || ch == 0xaa || ch == 0xb5 || ch == 0xba ||
         (ch >= 0xc0 && ch != 0xd7 && ch != 0xf7);
}

/* CharTypes.getInputCodeUtf8(): 0 plain, 1 quote or backslash, 2-4 UTF-8 lead of that length,
 * 5 invalid in a string (control characters, continuation bytes, 0xf8-0xff). */
static const unsigned char jc_codes[256] = {
  5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
  5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
  2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5,
};

/* One UTF-16 code unit as UTF-8, the way the message reaches the client (an unpaired surrogate
 * becomes '?', as Java's encoder writes it). NUL cannot travel in a C string and is dropped. */
static size_t jc_put_unit(char *out, unsigned cu)
{
  if (cu == 0)
    return 0;
  if (cu < 0x80) {
    out[0] = (char)cu;
    return 1;
  }
  if (cu < 0x800) {
    out[0] = (char)(0xc0 | (cu >> 6));
    out[1] = (char)(0x80 | (cu & 0x3f));
    return 2;
  }
  if (cu >= 0xd800 && cu <= 0xdfff) {
    out[0] = '?';
    return 1;
  }
  out[0] = (char)(0xe0 | (cu >> 12));
  out[1] = (char)(0x80 | ((cu >> 6) & 0x3f));
  out[2] = (char)(0x80 | (cu & 0x3f));
  return 3;
}

/* ParserMinimalBase._getCharDesc(int): ch is a byte, a decoded char or (once) a signed byte. */
static void jc_char_desc(char *out, size_t n, long ch)
{
  unsigned cu = (unsigned)ch & 0xffff; /* (char) ch */
  char u[4];

  if (cu < 0x20 || (cu >= 0x7f && cu <= 0x9f)) {
    snprintf(out, n, "(CTRL-CHAR, code %ld)", ch);
    return;
  }
  u[jc_put_unit(u, cu)] = '\0';
  if (ch > 255)
    snprintf(out, n, "'%s' (code %ld / 0x%lx)", u, ch, (unsigned long)ch);
  else
    snprintf(out, n, "'%s' (code %ld)", u, ch);
}

/* new String(bytes, 0, n, UTF_8) as the JDK decodes it: each malformed sequence becomes one
 * U+FFFD and decoding resumes after the longest valid prefix (sun.nio.cs.UTF_8). 2.13 and later
 * then write control characters other than CR and LF as \uXXXX (ContentReference._append()); 2.9
 * keeps them raw, and a raw NUL, which a C string cannot hold, is dropped. */
static char *jc_decode_snippet(const unsigned char *s, size_t n)
{
  char *out = malloc(n * 6 + 1), *o = out;
  size_t i = 0;
  static const char fffd[] = "\xef\xbf\xbd";

  if (!out)
    return NULL;
#define JC_CONT(b) (((b) & 0xc0) == 0x80)
#define JC_BAD()                                                                                    \
  do {                                                                                            \
    memcpy(o, fffd, 3);                                                                           \
    o += 3;                                                                                       \
  } while (0)
  while (i < n) {
    unsigned b1 = s[i++];
    if (b1 < 0x80) {
#if JSON_CHECK_JACKSON >= 213
      if ((b1 < 0x20 && b1 != '\r' && b1 != '\n') || b1 == 0x7f) {
        o += sprintf(o, "\\u%04X", b1);
        continue;
      }
#endif
      if (b1)
        *o++ = (char)b1;
    } else if (b1 >= 0xc2 && b1 <= 0xdf) {
#if JSON_CHECK_JACKSON >= 213
      if (b1 == 0xc2 && i < n && s[i] >= 0x80 && s[i] <= 0x9f) { /* U+0080-U+009F */
        o += sprintf(o, "\\u%04X", s[i++]);
        continue;
      }
#endif
      if (i < n && JC_CONT(s[i])) {
        *o++ = (char)b1;
        *o++ = (char)s[i++];
      } else {
        JC_BAD();
      }
    } else if (b1 >= 0xe0 && b1 <= 0xef) {
      if (i + 1 < n) {
        unsigned b2 = s[i], b3 = s[i + 1];
        if ((b1 == 0xe0 && (b2 & 0xe0) == 0x80) || !JC_CONT(b2)) {
          JC_BAD();
        } else if (!JC_CONT(b3)) {
          JC_BAD();
          i += 1;
        } else {
          unsigned cp = ((b1 & 0x0f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
          if (cp >= 0xd800 && cp <= 0xdfff) {
            JC_BAD();
          } else {
            *o++ = (char)b1;
            *o++ = (char)b2;
            *o++ = (char)b3;
          }
          i += 2;
        }
      } else {
        /* truncated at the end: one U+FFFD, unless the next byte cannot continue it */
        if (i < n && ((b1 == 0xe0 && (s[i] & 0xe0) == 0x80) || !JC_CONT(s[i]))) {
          JC_BAD();
          continue;
        }
        JC_BAD();
        break;
      }
    } else if (b1 >= 0xf0 && b1 <= 0xf7) {
      if (i + 2 < n) {
        unsigned b2 = s[i], b3 = s[i + 1], b4 = s[i + 2];
        unsigned cp = ((b1 & 0x07) << 18) | ((b2 & 0x3f) << 12) | ((b3 & 0x3f) << 6) | (b4 & 0x3f);
        if (!JC_CONT(b2) || !JC_CONT(b3) || !JC_CONT(b4) || cp < 0x10000 || cp > 0x10ffff) {
          JC_BAD();
          if (b1 > 0xf4 || (b1 == 0xf0 && (b2 < 0x90 || b2 > 0xbf)) ||
              (b1 == 0xf4 && (b2 & 0xf0) != 0x80) || !JC_CONT(b2))
            ;
          else if (!JC_CONT(b3))
            i += 1;
          else
            i += 2;
        } else {
          memcpy(o, s + i - 1, 4);
          o += 4;
          i += 3;
        }
      } else {
        if (b1 > 0xf4 || (i < n && ((b1 == 0xf0 && (s[i] < 0x90 || s[i] > 0xbf)) ||
                                    (b1 == 0xf4 && (s[i] & 0xf0) != 0x80) || !JC_CONT(s[i])))) {
          JC_BAD();
          continue;
        }
        i++;
        if (i < n && !JC_CONT(s[i])) {
          JC_BAD();
          continue;
        }
        JC_BAD();
        break;
      }
    } else {
      JC_BAD();
    }
  }
#undef JC_CONT
#undef JC_BAD
  *o = '\0';
  return out;
}

/* JsonLocation.toString() for a byte[] source. */
static char *jc_location(struct jc *c, size_t line, long long col)
{
  if (!c->src) {
    size_t n = c->len < JC_SNIPPET ? c->len : JC_SNIPPET;
    char *text = jc_decode_snippet(c->p, n);
    if (!text)
      return NULL;
    if (c->len > JC_SNIPPET)
      c->src = util_asprintf("(byte[])\"%s\"[truncated %zu bytes]", text, c->len - JC_SNIPPET);
    else
      c->src = util_asprintf("(byte[])\"%s\"", text);
    free(text);
    if (!c->src)
      return NULL;
  }
  return util_asprintf("[Source: %s; line: %zu, column: %lld]", c->src, line, col);
}

/* Throw: msg plus the current location (getCurrentLocation()), as JsonProcessingException words
 * it. */
static void jc_fail(struct jc *c, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

static void jc_fail(struct jc *c, const char *fmt, ...)
{
  char *msg = NULL, *loc;
  va_list ap;

  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  loc = jc_location(c, c->row, (long long)c->ptr - c->row_start + 1);
  if (msg && loc)
    c->detail = util_asprintf("%s\n at %s", msg, loc);
  free(msg);
  free(loc);
  longjmp(c->fail, 1);
}

/* _loadMore(): a byte[] never has more, but 2.9 moves the row start back by the buffer length
 * on every call all the same, so each end-of-input probe adds len to later columns
 * (jackson-core#455, fixed in 2.10). Call it exactly where Jackson does. */
static bool jc_more(struct jc *c)
{
#if JSON_CHECK_JACKSON < 210 && JSON_CHECK_EOF_COLUMN_BUG
  c->row_start -= (long long)c->len;
#else
  (void)c;
#endif
  return false;
}

/* _reportInvalidEOF() names the current token; the other forms take their own text. */
static void jc_eof_in_token(struct jc *c) __attribute__((noreturn));
static void jc_eof_in_token(struct jc *c)
{
  jc_fail(c, "Unexpected end-of-input in %s", jc_token_names[c->curr]);
}

/* _loadMoreGuaranteed() */
static void jc_need(struct jc *c)
{
  if (c->ptr >= c->len && !jc_more(c))
    jc_eof_in_token(c);
}

static void jc_unexpected_char(struct jc *c, long ch, const char *comment) __attribute__((noreturn));
static void jc_unexpected_char(struct jc *c, long ch, const char *comment)
{
  char desc[64];

  jc_char_desc(desc, sizeof(desc), ch);
  jc_fail(c, "Unexpected character (%s): %s", desc, comment);
}

static void jc_number_char(struct jc *c, long ch, const char *comment) __attribute__((noreturn));
static void jc_number_char(struct jc *c, long ch, const char *comment)
{
  char desc[64];

  jc_char_desc(desc, sizeof(desc), ch);
  jc_fail(c, "Unexpected character (%s) in numeric value: %s", desc, comment);
}

static const char *jc_type_desc(const struct jc_context *x)
{
  return x->kind == '[' ? "Array" : x->kind == '{' ? "Object" : "root";
}

static struct jc_context *jc_top(struct jc *c)
{
  return &c->ctx[c->depth];
}

/* _decodeCharForError(): decode the character whose first byte is first, reading any further
 * bytes at ptr. */
static long jc_decode_for_error(struct jc *c, int first)
{
  long ch = first & 0xff;
  int needed, k;

  if (ch <= 0x7f)
    return ch;
  if ((ch & 0xe0) == 0xc0) {
    ch &= 0x1f;
    needed = 1;
  } else if ((ch & 0xf0) == 0xe0) {
    ch &= 0x0f;
    needed = 2;
  } else if ((ch & 0xf8) == 0xf0) {
    ch &= 0x07;
    needed = 3;
  } else {
    jc_fail(c, "Invalid UTF-8 start byte 0x%lx", ch);
  }
  for (k = 0; k < needed; k++) {
    int d;
    jc_need(c);
    d = c->p[c->ptr++];
    if ((d & 0xc0) != 0x80)
      jc_fail(c, "Invalid UTF-8 middle byte 0x%x", d);
    ch = (ch << 6) | (d & 0x3f);
  }
  return ch;
}

/* _reportInvalidToken(): the matched part plus what follows for as long as it looks like a Java
 * identifier (the first other character is consumed too), cut at 256 UTF-16 units. */
static void jc_invalid_token(struct jc *c, const char *matched, size_t matched_len, size_t units,
                             const char *expecting) __attribute__((noreturn));
static void jc_invalid_token(struct jc *c, const char *matched, size_t matched_len, size_t units,
                             const char *expecting)
{
  char tok[JC_MAX_TOKEN * 3 + 16];
  size_t n = matched_len;

  memcpy(tok, matched, matched_len);
  while (c->ptr < c->len || jc_more(c)) {
    unsigned cu = (unsigned)jc_decode_for_error(c, c->p[c->ptr++]) & 0xffff;
    if (!jc_is_ident_part(cu))
      break;
    n += jc_put_unit(tok + n, cu);
    if (++units >= JC_MAX_TOKEN) {
      memcpy(tok + n, "...", 3);
      n += 3;
      break;
    }
  }
  tok[n] = '\0';
  jc_fail(c, "Unrecognized token '%s': was expecting %s", tok, expecting);
}

/* _checkMatchEnd(): 2.9 decodes ch from the bytes at ptr, which still points at ch itself. */
static void jc_check_match_end(struct jc *c, const char *s, size_t i, int ch)
{
  unsigned cu = (unsigned)jc_decode_for_error(c, ch) & 0xffff;

  if (jc_is_ident_part(cu))
    jc_invalid_token(c, s, i, i, JC_EXPECT_LITERAL);
}

/* _matchToken2(): s[0..i) already read. */
static void jc_match_token2(struct jc *c, const char *s, size_t i)
{
  size_t n = strlen(s);
  int ch;

  do {
    if ((c->ptr >= c->len && !jc_more(c)) || c->p[c->ptr] != (unsigned char)s[i])
      jc_invalid_token(c, s, i, i, JC_EXPECT_LITERAL);
    c->ptr++;
  } while (++i < n);
  if (c->ptr >= c->len && !jc_more(c))
    return;
  ch = c->p[c->ptr];
  if (ch >= '0' && ch != ']' && ch != '}')
    jc_check_match_end(c, s, i, ch);
}

/* _matchToken() */
static void jc_match_token(struct jc *c, const char *s, size_t i)
{
  size_t n = strlen(s);
  int ch;

  if (c->ptr + n >= c->len) {
    jc_match_token2(c, s, i);
    return;
  }
  do {
    if (c->p[c->ptr] != (unsigned char)s[i])
      jc_invalid_token(c, s, i, i, JC_EXPECT_LITERAL);
    c->ptr++;
  } while (++i < n);
  ch = c->p[c->ptr];
  if (ch >= '0' && ch != ']' && ch != '}')
    jc_check_match_end(c, s, i, ch);
}

/* _matchTrue(), _matchFalse(), _matchNull(): s[0] already read. */
static void jc_match_literal(struct jc *c, const char *s)
{
  size_t rest = strlen(s) - 1;

  const unsigned char *q = c->p + c->ptr;

  if (c->ptr + rest < c->len && q[0] == s[1] && q[1] == s[2] && q[2] == s[3] &&
      (rest == 3 || q[3] == s[4])) {
    int ch = q[rest];
    if (ch < '0' || ch == ']' || ch == '}') {
      c->ptr += rest;
      return;
    }
  }
  jc_match_token2(c, s, 1);
}

/* _skipCR() */
static void jc_skip_cr(struct jc *c)
{
  if (c->ptr < c->len || jc_more(c)) {
    if (c->p[c->ptr] == '\n')
      c->ptr++;
  }
  c->row++;
  c->row_start = (long long)c->ptr;
}

/* A byte <= 0x20 other than a space between tokens. */
static void jc_white(struct jc *c, int i)
{
  char desc[64];

  if (i == '\n') {
    c->row++;
    c->row_start = (long long)c->ptr;
  } else if (i == '\r') {
    jc_skip_cr(c);
  } else if (i != '\t') {
    jc_char_desc(desc, sizeof(desc), i);
    jc_fail(c, "Illegal character (%s): only regular white space (\\r, \\n, \\t) is allowed between "
            "tokens", desc);
  }
}

/* _skipComment() with ALLOW_COMMENTS off; '#' (YAML comments, also off) is left to the caller. */
static void jc_comment(struct jc *c) __attribute__((noreturn));
static void jc_comment(struct jc *c)
{
  jc_unexpected_char(c, '/', "maybe a (non-standard) comment? (not recognized as one since Feature "
                     "'ALLOW_COMMENTS' not enabled for parser)");
}

/* _handleEOF() via _eofAsNextChar() */
static int jc_eof_as_next(struct jc *c)
{
  if (c->depth > 0) {
    const struct jc_context *x = jc_top(c);
    c->start = jc_location(c, x->line, x->col);
    jc_fail(c, "Unexpected end-of-input: expected close marker for %s (start marker at %s)",
            x->kind == '[' ? "Array" : "Object", c->start ? c->start : "");
  }
  return -1;
}

/* The next byte that is not white space, or -1 at the end (after one _loadMore(), as Jackson's
 * loops make). */
static int jc_next_nonspace_slow(struct jc *c)
{
  const unsigned char *p = c->p;
  size_t n = c->len;

  for (;;) {
    size_t i = c->ptr, row = c->row;
    long long row_start = c->row_start;
    int ch = -1;
    for (; i < n; i++) {
      ch = p[i];
      if (ch == ' ' || ch == '\t')
        continue;
      if (ch != '\n')
        break;
      row++;
      row_start = (long long)i + 1;
    }
    c->row = row;
    c->row_start = row_start;
    if (i >= n) {
      c->ptr = i;
      jc_more(c);
      return -1;
    }
    c->ptr = i + 1;
    if (ch > ' ') {
      if (ch == '/')
        jc_comment(c);
      return ch;
    }
    jc_white(c, ch); /* '\r', or a control character that fails */
  }
}

static inline int jc_next_nonspace(struct jc *c)
{
  if (c->ptr < c->len) {
    int ch = c->p[c->ptr];
    if (ch > ' ' && ch != '/') {
      c->ptr++;
      return ch;
    }
  }
  return jc_next_nonspace_slow(c);
}

/* _skipWSOrEnd() */
static int jc_skip_ws_or_end(struct jc *c)
{
  int i = jc_next_nonspace(c);

  return i >= 0 ? i : jc_eof_as_next(c);
}

/* _skipWS(): after a comma a value (or name) must follow. */
static int jc_skip_ws(struct jc *c)
{
  int i = jc_next_nonspace(c);

  if (i < 0)
    jc_fail(c, "Unexpected end-of-input within/between %s entries", jc_type_desc(jc_top(c)));
  return i;
}

/* _skipColon() */
static int jc_skip_colon(struct jc *c)
{
  int i = jc_next_nonspace(c);

  if (i == ':')
    i = jc_next_nonspace(c);
  else if (i >= 0)
    jc_unexpected_char(c, i, "was expecting a colon to separate field name and value");
  if (i < 0)
    jc_fail(c, "Unexpected end-of-input within/between %s entries", jc_type_desc(jc_top(c)));
  return i;
}

/* _updateLocation(): where the token just read started, for a context opened by it. */
static void jc_update_location(struct jc *c)
{
  c->tok_row = c->row;
  c->tok_col = (long long)c->ptr - c->row_start;
}

/* createChildArrayContext() / createChildObjectContext() */
static void jc_push(struct jc *c, char kind)
{
  struct jc_context *x;

  if (c->depth >= JSON_CHECK_MAX_DEPTH)
    jc_fail(c, "Document nesting depth (%zu) exceeds the maximum allowed (%d)", c->depth + 1,
            JSON_CHECK_MAX_DEPTH);
  if (c->depth + 1 >= c->cap) {
    size_t cap = c->cap * 2;
    struct jc_context *n;
    if (c->ctx == c->inline_ctx) {
      n = malloc(cap * sizeof(*n));
      if (n)
        memcpy(n, c->ctx, c->cap * sizeof(*n));
    } else {
      n = realloc(c->ctx, cap * sizeof(*n));
    }
    if (!n)
      jc_fail(c, "Out of memory at nesting depth %zu", c->depth + 1);
    c->ctx = n;
    c->cap = cap;
  }
  x = &c->ctx[++c->depth];
  x->kind = kind;
  x->seen = false;
  x->line = c->tok_row;
  x->col = c->tok_col;
}

/* JsonReadContext.expectComma() */
static bool jc_expect_comma(struct jc *c)
{
  struct jc_context *x = jc_top(c);
  bool seen = x->seen;

  x->seen = true;
  return seen && c->depth > 0;
}

/* _closeArrayScope() / _closeObjectScope() with _reportMismatchedEndMarker() */
static void jc_close_scope(struct jc *c, int close)
{
  const struct jc_context *x = jc_top(c);

  if (x->kind != (close == ']' ? '[' : '{')) {
    c->start = jc_location(c, x->line, x->col);
    jc_fail(c, "Unexpected close marker '%c': expected '%c' (for %s starting at %s)", close,
            close == ']' ? '}' : ']', jc_type_desc(x), c->start ? c->start : "");
  }
  c->depth--;
}

/* _verifyRootSpace(): a root-level number must end in white space (or the end). */
static void jc_verify_root_space(struct jc *c, int ch)
{
  c->ptr++;
  switch (ch) {
  case ' ':
  case '\t':
    return;
  case '\r':
    jc_skip_cr(c);
    return;
  case '\n':
    c->row++;
    c->row_start = (long long)c->ptr;
    return;
  }
  jc_unexpected_char(c, ch, "Expected space separating root-level values");
}

/* _verifyNoLeadingZeroes(), after a '0' */
static void jc_verify_no_leading_zeroes(struct jc *c)
{
  int ch;

  if (c->ptr >= c->len && !jc_more(c))
    return;
  ch = c->p[c->ptr];
  if (ch >= '0' && ch <= '9')
    jc_fail(c, "Invalid numeric value: Leading zeroes not allowed");
}

/* _parseFloat(): ch is the '.', 'e' or 'E' just read. */
static enum jc_token jc_parse_float(struct jc *c, int ch)
{
  bool eof = false;
  size_t digits = 0;

  if (ch == '.') {
    for (;;) {
      if (c->ptr >= c->len && !jc_more(c)) {
        eof = true;
        break;
      }
      ch = c->p[c->ptr++];
      if (ch < '0' || ch > '9')
        break;
      digits++;
    }
    if (digits == 0)
      jc_number_char(c, ch, "Decimal point not followed by a digit");
  }
  if (ch == 'e' || ch == 'E') {
    jc_need(c);
    ch = c->p[c->ptr++];
    if (ch == '-' || ch == '+') {
      jc_need(c);
      ch = c->p[c->ptr++];
    }
    digits = 0;
    while (ch >= '0' && ch <= '9') {
      digits++;
      if (c->ptr >= c->len && !jc_more(c)) {
        eof = true;
        break;
      }
      ch = c->p[c->ptr++];
    }
    if (digits == 0)
      jc_number_char(c, ch, "Exponent indicator not followed by a digit");
  }
  if (!eof) {
    c->ptr--;
    if (c->depth == 0)
      jc_verify_root_space(c, ch);
  }
  return JC_VALUE_NUMBER_FLOAT;
}

/* The rest of _parsePosNumber() / _parseNegNumber() once the first digit is in. */
static enum jc_token jc_parse_number_rest(struct jc *c)
{
  const unsigned char *p = c->p;
  size_t i = c->ptr, n = c->len;
  int ch;

  while (i < n && p[i] >= '0' && p[i] <= '9')
    i++;
  c->ptr = i;
  if (i >= n) {
    jc_more(c);
    return JC_VALUE_NUMBER_INT;
  }
  ch = p[c->ptr++];
  if (ch == '.' || ch == 'e' || ch == 'E')
    return jc_parse_float(c, ch);
  c->ptr--;
  if (c->depth == 0)
    jc_verify_root_space(c, ch);
  return JC_VALUE_NUMBER_INT;
}

/* _handleInvalidNumberStart(): ch followed a sign. */
static enum jc_token jc_invalid_number_start(struct jc *c, int ch, bool neg) __attribute__((noreturn));
static enum jc_token jc_invalid_number_start(struct jc *c, int ch, bool neg)
{
  if (ch == 'I') {
    const char *match;
    if (c->ptr >= c->len && !jc_more(c))
      jc_fail(c, "Unexpected end-of-input in a Number value");
    ch = (signed char)c->p[c->ptr++];
    if (ch == 'N' || ch == 'n') {
      match = ch == 'N' ? (neg ? "-INF" : "+INF") : (neg ? "-Infinity" : "+Infinity");
      jc_match_token(c, match, 3);
      jc_fail(c, "Non-standard token '%s': " JC_NON_NUMERIC, match);
    }
  }
  jc_number_char(c, ch, "expected digit (0-9) to follow minus sign, for valid numeric value");
}

/* _handleUnexpectedValue(): ch (a raw byte) cannot start a value. */
static enum jc_token jc_unexpected_value(struct jc *c, int ch) __attribute__((noreturn));
static enum jc_token jc_unexpected_value(struct jc *c, int ch)
{
  switch (ch) {
  case ']':
    if (jc_top(c)->kind != '[')
      break;
    /* fall through */
  case ',':
  case '}':
    jc_unexpected_char(c, ch, "expected a value");
  case 'N':
    jc_match_token(c, "NaN", 1);
    jc_fail(c, "Non-standard token 'NaN': " JC_NON_NUMERIC);
  case 'I':
    jc_match_token(c, "Infinity", 1);
    jc_fail(c, "Non-standard token 'Infinity': " JC_NON_NUMERIC);
  case '+':
    if (c->ptr >= c->len && !jc_more(c))
      jc_fail(c, "Unexpected end-of-input in a Number value");
    jc_invalid_number_start(c, c->p[c->ptr++], false);
  }
  if (jc_is_ident_start_byte(ch)) {
    char first[4]; /* room for any unit jc_put_unit writes (up to 3 bytes) */
    jc_invalid_token(c, first, jc_put_unit(first, (unsigned)ch), 1, JC_EXPECT_TOKEN);
  }
  jc_unexpected_char(c, ch, "expected a valid value " JC_EXPECT_VALUE);
}

/* The value starting with byte i (_nextTokenNotInObject(), and the same switch in
 * nextFieldName()). A string's content is read later by jc_finish_string(). */
static enum jc_token jc_value(struct jc *c, int i)
{
  int ch;

  switch (i) {
  case '"':
    return JC_VALUE_STRING;
  case '[':
    jc_push(c, '[');
    return JC_START_ARRAY;
  case '{':
    jc_push(c, '{');
    return JC_START_OBJECT;
  case 't':
    jc_match_literal(c, "true");
    return JC_VALUE_TRUE;
  case 'f':
    jc_match_literal(c, "false");
    return JC_VALUE_FALSE;
  case 'n':
    jc_match_literal(c, "null");
    return JC_VALUE_NULL;
  case '-':
    jc_need(c);
    ch = c->p[c->ptr++];
    if (ch == '0')
      jc_verify_no_leading_zeroes(c);
    else if (ch < '0' || ch > '9')
      jc_invalid_number_start(c, ch, true);
    return jc_parse_number_rest(c);
  case '0':
    jc_verify_no_leading_zeroes(c);
    return jc_parse_number_rest(c);
  case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
    return jc_parse_number_rest(c);
  }
  jc_unexpected_value(c, i);
}

/* _decodeEscaped(): after a backslash; returns the char it stands for. */
static unsigned jc_decode_escaped(struct jc *c)
{
  unsigned value = 0;
  int ch, k;

  if (c->ptr >= c->len && !jc_more(c))
    jc_fail(c, "Unexpected end-of-input in character escape sequence");
  ch = (signed char)c->p[c->ptr++];
  switch (ch) {
  case 'b':
    return '\b';
  case 't':
    return '\t';
  case 'n':
    return '\n';
  case 'f':
    return '\f';
  case 'r':
    return '\r';
  case '"':
  case '/':
  case '\\':
    return (unsigned)ch;
  case 'u':
    break;
  default: {
    char desc[64];
    jc_char_desc(desc, sizeof(desc), (long)((unsigned)jc_decode_for_error(c, ch) & 0xffff));
    jc_fail(c, "Unrecognized character escape %s", desc);
  }
  }
  for (k = 0; k < 4; k++) {
    int d;
    if (c->ptr >= c->len && !jc_more(c))
      jc_fail(c, "Unexpected end-of-input in character escape sequence");
    d = c->p[c->ptr++];
    if (d >= '0' && d <= '9')
      d -= '0';
    else if (d >= 'a' && d <= 'f')
      d -= 'a' - 10;
    else if (d >= 'A' && d <= 'F')
      d -= 'A' - 10;
    else
      jc_unexpected_char(c, d, "expected a hex-digit for character escape sequence");
    value = (value << 4) | (unsigned)d;
  }
  return value;
}

/* Whether none of 8 bytes needs a look in a string: no quote, backslash, control character or
 * byte above 0x7f. */
static inline bool jc_plain8(const unsigned char *s)
{
  const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  uint64_t v, q, b;

  memcpy(&v, s, 8);
  q = v ^ (ones * '"');
  b = v ^ (ones * '\\');
  return ((v | ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs) == 0;
}

/* Skip the bytes of a string that need no check from i; returns where one does (or n). */
static inline size_t jc_skip_plain(const unsigned char *p, size_t i, size_t n)
{
  while (i + 8 <= n && jc_plain8(p + i))
    i += 8;
  while (i < n && !jc_codes[p[i]])
    i++;
  return i;
}

/* _finishString(): the content of a string value, from after its opening quote. */
static void jc_finish_string(struct jc *c)
{
  const unsigned char *p = c->p;
  size_t n = c->len, i = c->ptr;

  for (;;) {
    int ch, code, k;
    i = jc_skip_plain(p, i, n);
    while (i + 4 <= n) { /* well-formed multi-byte characters, the common case */
      code = jc_codes[p[i]];
      if (code < 2 || code > 4 || (p[i + 1] & 0xc0) != 0x80 ||
          (code >= 3 && (p[i + 2] & 0xc0) != 0x80) || (code == 4 && (p[i + 3] & 0xc0) != 0x80))
        break;
      i += (size_t)code;
    }
    if (i < n && !jc_codes[p[i]])
      continue;
    c->ptr = i;
    jc_need(c);
    ch = p[c->ptr++];
    code = jc_codes[ch];
    if (ch == '"')
      return;
    if (code == 1) {
      jc_decode_escaped(c);
      i = c->ptr;
      continue;
    }
    if (code == 5) {
      if (ch < 0x20)
        jc_fail(c, "Illegal unquoted character ((CTRL-CHAR, code %d)): has to be escaped using "
                "backslash to be included in string value", ch);
      jc_fail(c, "Invalid UTF-8 start byte 0x%x", ch);
    }
    for (k = 1; k < code; k++) { /* _decodeUtf8_2/3/4() */
      int d;
      jc_need(c);
      d = p[c->ptr++];
      if ((d & 0xc0) != 0x80)
        jc_fail(c, "Invalid UTF-8 middle byte 0x%x", d);
    }
    i = c->ptr;
  }
}

/* One byte of a field name into addName()'s UTF-8 check. Only the first problem counts. */
static void jc_name_byte(struct jc_name *nm, unsigned b)
{
  size_t j = nm->n++;
  int bits;

  nm->quad = (j & 3) == 0 ? b : (nm->quad << 8) | b;
  if (nm->err)
    return;
  if (nm->need > 0) {
    nm->need--;
    if ((b & 0xc0) != 0x80) {
      nm->err = JC_NAME_MIDDLE;
      nm->err_lead = nm->lead;
      nm->err_seq_len = nm->seq_len;
      if (nm->cont == 2) { /* the fourth byte of four is masked; the others are not */
        nm->err_value = b;
      } else { /* quads[ix >> 2] >> ((3 - (ix & 3)) << 3): the quad so far, sign-extended */
        bits = (int)((j & 3) + 1) * 8;
        nm->err_value = nm->quad;
        if (bits < 32 && (nm->quad & (1u << (bits - 1))))
          nm->err_value |= ~((1u << bits) - 1);
      }
    }
    nm->cont++;
    return;
  }
  if (b < 0x80)
    return;
  if ((b & 0xe0) == 0xc0)
    nm->seq_len = 1;
  else if ((b & 0xf0) == 0xe0)
    nm->seq_len = 2;
  else if ((b & 0xf8) == 0xf0)
    nm->seq_len = 3;
  else {
    nm->err = JC_NAME_START;
    nm->err_value = b;
    return;
  }
  nm->need = nm->seq_len;
  nm->cont = 0;
  nm->lead = j;
}

/* _parseName() and addName(): i is the byte where the name should start. */
static void jc_parse_name(struct jc *c, int i)
{
  struct jc_name *nm = &c->name;
  int ch;

  if (i != '"') /* _handleOddName() */
    jc_unexpected_char(c, (long)((unsigned)jc_decode_for_error(c, i) & 0xffff),
                       "was expecting double-quote to start field name");
  if (c->ptr >= c->len) {
    jc_more(c);
    jc_fail(c, "Unexpected end-of-input: was expecting closing '\"' for name");
  }
  { /* the common case: plain ASCII up to the closing quote, nothing to check */
    size_t j = c->ptr;
    j = jc_skip_plain(c->p, j, c->len);
    if (j < c->len && c->p[j] == '"') {
      c->ptr = j + 1;
      return;
    }
  }
  memset(nm, 0, sizeof(*nm));
  ch = c->p[c->ptr++];
  while (ch != '"') {
    if (ch < 0x20)
      jc_fail(c, "Illegal unquoted character ((CTRL-CHAR, code %d)): has to be escaped using "
              "backslash to be included in name", ch);
    if (ch == '\\') {
      unsigned v = jc_decode_escaped(c); /* re-encoded as UTF-8, surrogates one by one */
      if (v < 0x80) {
        jc_name_byte(nm, v);
      } else if (v < 0x800) {
        jc_name_byte(nm, 0xc0 | (v >> 6));
        jc_name_byte(nm, 0x80 | (v & 0x3f));
      } else {
        jc_name_byte(nm, 0xe0 | (v >> 12));
        jc_name_byte(nm, 0x80 | ((v >> 6) & 0x3f));
        jc_name_byte(nm, 0x80 | (v & 0x3f));
      }
    } else {
      jc_name_byte(nm, (unsigned)ch);
    }
    if (c->ptr >= c->len && !jc_more(c))
      jc_fail(c, "Unexpected end-of-input in field name");
    ch = c->p[c->ptr++];
  }
  /* addName(): a sequence that runs past the name's end is reported before its bad bytes */
  if ((nm->err == JC_NAME_MIDDLE && nm->err_lead + 1 + (size_t)nm->err_seq_len > nm->n) ||
      (!nm->err && nm->need > 0))
    jc_fail(c, "Unexpected end-of-input in field name");
  if (nm->err == JC_NAME_START)
    jc_fail(c, "Invalid UTF-8 start byte 0x%x", nm->err_value);
  if (nm->err == JC_NAME_MIDDLE)
    jc_fail(c, "Invalid UTF-8 middle byte 0x%x", nm->err_value);
}

/* nextToken() outside an object: the next array element, or the root value. */
static enum jc_token jc_next_token(struct jc *c)
{
  enum jc_token t;
  int i = jc_skip_ws_or_end(c);

  if (i < 0)
    return c->curr = JC_END_OF_INPUT;
  if (i == ']' || i == '}') {
    jc_close_scope(c, i);
    return c->curr = i == ']' ? JC_END_ARRAY : JC_END_OBJECT;
  }
  if (jc_expect_comma(c)) {
    if (i != ',')
      jc_unexpected_char(c, i, "was expecting comma to separate Array entries");
    i = jc_skip_ws(c);
  }
  jc_update_location(c);
  t = jc_value(c, i);
  return c->curr = t;
}

/* nextFieldName() then nextToken() inside an object: false at its end. */
static bool jc_next_field(struct jc *c)
{
  enum jc_token t;
  int i = jc_skip_ws_or_end(c);

  if (i == ']' || i == '}') {
    jc_close_scope(c, i);
    c->curr = JC_END_OBJECT;
    return false;
  }
  if (jc_expect_comma(c)) {
    if (i != ',')
      jc_unexpected_char(c, i, "was expecting comma to separate Object entries");
    i = jc_skip_ws(c);
  }
  jc_parse_name(c, i);
  c->curr = JC_FIELD_NAME;
  i = jc_skip_colon(c);
  jc_update_location(c);
  t = jc_value(c, i);
  c->curr = t;
  return true;
}

/* ObjectMapper.readTree(): one value, every string read in full (JsonNodeDeserializer). */
static void jc_walk(struct jc *c)
{
  enum jc_token t = jc_next_token(c);

  if (t == JC_END_OF_INPUT)
    return; /* no content: readTree() returns null */
  for (;;) {
    if (t == JC_VALUE_STRING)
      jc_finish_string(c);
    if (c->depth == 0)
      return;
    if (jc_top(c)->kind == '{') {
      if (!jc_next_field(c))
        t = JC_END_OBJECT;
      else
        t = c->curr;
    } else {
      t = jc_next_token(c);
    }
  }
}

static bool jc_run(struct jc *c)
{
  if (setjmp(c->fail))
    return false;
  jc_walk(c);
  return true;
}

bool json_check(const char *p, size_t len, char **detail)
{
  struct jc c;
  bool ok;

  if (detail)
    *detail = NULL;
  memset(&c, 0, offsetof(struct jc, inline_ctx));
  c.p = (const unsigned char *)p;
  c.len = len;
  c.row = 1;
  c.ctx = c.inline_ctx;
  c.cap = JC_INLINE_DEPTH + 1;
  c.ctx[0].kind = 'r';
  c.ctx[0].seen = false;
  c.ctx[0].line = 1;
  c.ctx[0].col = 0;
  c.src = NULL;
  c.start = NULL;
  c.detail = NULL;
  /* ByteSourceJsonBootstrapper skips a UTF-8 BOM (given 4 bytes); 2.9 counts columns after it */
  if (len >= 4 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
    c.ptr = 3;
    c.row_start = JSON_CHECK_JACKSON < 210 && JSON_CHECK_EOF_COLUMN_BUG ? 3 : 0;
  }
  ok = jc_run(&c);
  if (c.ctx != c.inline_ctx)
    free(c.ctx);
  free(c.src);
  free(c.start);
  if (!ok && detail)
    *detail = c.detail;
  else
    free(c.detail);
  return ok;
}
