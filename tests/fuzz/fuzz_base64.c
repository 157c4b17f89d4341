/* Fuzzes base64 (emulator/util.c), as the management API uses it on Code.ZipFile and the Invoke
 * path on X-Amz-Client-Context: decoding arbitrary text never reads or writes out of bounds and
 * yields exactly 3 bytes per 4 characters less the padding; encoding any bytes and decoding the
 * result gives the bytes back, and the encoding is canonical (decode then encode is the identity
 * on encoder output). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size ? size : 1), *dec, *enc, *back;
  size_t n = 0, m = 0;

  if (!text)
    return 0;
  memcpy(text, data, size); /* exact size: decode gets a length, not a C string */
  dec = util_base64_decode(text, size, &n);
  if (dec) {
    size_t pad = 0;
    while (pad < 2 && pad < size && text[size - 1 - pad] == '=')
      pad++;
    FUZZ_CHECK(size % 4 == 0);
    FUZZ_CHECK(n == size / 4 * 3 - pad);
    FUZZ_CHECK(dec[n] == '\0');
    free(dec);
  }
  free(text);

  enc = util_base64_encode(data, size);
  FUZZ_CHECK(enc);
  FUZZ_CHECK(strlen(enc) == (size + 2) / 3 * 4);
  back = util_base64_decode(enc, strlen(enc), &m);
  FUZZ_CHECK(back && m == size && memcmp(back, data, size) == 0);
  free(back);
  free(enc);
  return 0;
}
