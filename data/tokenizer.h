/* Tokenizers behind one interface: GPT-2 byte-level BPE (SPEC §7) and raw bytes.
 *
 * Encoding works on arbitrary bytes, not only UTF-8: decode(encode(x)) == x for every x.
 * GPT-2: the input is split into maximal runs of valid UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF) and maximal runs of bytes that are not part of a valid
 * sequence. Valid runs are pre-tokenised by the GPT-2 regex (match semantics equal to Python
 * `regex`'s findall, each run on its own, as if it were the whole text); each invalid run is one
 * piece. Every piece is then BPE-merged from its byte tokens, so every byte ends up in exactly one
 * token (a piece over 2^30 bytes is cut into 2^30-byte parts first). For UTF-8 text this is
 * exactly GPT-2's encoder.py / tiktoken's encode_ordinary.
 * Unicode properties come from the linked PCRE2 (its Unicode version; characters assigned later
 * count as neither letters nor numbers). `\s` is Python's White_Space set (PCRE2 alone would also
 * count U+180E).
 *
 * `<|endoftext|>` in the text is ordinary text unless SLT_TOK_ALLOW_EOT is passed, which maps
 * each occurrence to the EOT id. Decoding maps the EOT id back to the string `<|endoftext|>`.
 *
 * Thread safety: a loaded slt_tokenizer is read-only and may be shared by any number of threads.
 * Encoding needs a slt_tokenizer_state (regex match data, merge scratch and a bounded piece -> ids
 * cache, about 2.5 MB), which must be used by one thread at a time: give each thread its own and
 * reuse it across documents. Results never depend on what a state has cached. Decoding needs no
 * state. Errors are recorded per thread (autograd/error.h). */
#ifndef SLT_TOKENIZER_H
#define SLT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct slt_tokenizer slt_tokenizer;
typedef struct slt_tokenizer_state slt_tokenizer_state;

/* Growable token buffer; encode appends. Zero-initialise before first use. */
typedef struct slt_tokens {
  uint32_t *ids;
  int64_t n, cap;
} slt_tokens;

/* Growable byte buffer; decode appends. Zero-initialise before first use. */
typedef struct slt_bytebuf {
  char *data;
  int64_t n, cap;
} slt_bytebuf;

/* Flags for slt_tokenizer_encode. */
enum { SLT_TOK_ALLOW_EOT = 1 }; /* map the literal "<|endoftext|>" to the EOT id */

#define SLT_TOK_EOT_TEXT "<|endoftext|>"

/* GPT-2 BPE from dir: encoder.json + vocab.bpe (OpenAI) or, failing those, vocab.json +
 * merges.txt (Hugging Face). NULL with an error naming the file (and line) on failure. */
slt_tokenizer *slt_tokenizer_gpt2_load(const char *dir);
/* Raw bytes: id = byte value, EOT = 256, vocab size 257. */
slt_tokenizer *slt_tokenizer_bytes_new(void);
/* By name: "gpt2" (needs dir) or "bytes" (dir ignored). NULL with the error recorded. */
slt_tokenizer *slt_tokenizer_open(const char *name, const char *dir);
/* Free; NULL is fine. */
void slt_tokenizer_free(slt_tokenizer *t);

/* Number of ids (every id is below it): 50257 for GPT-2, 257 for bytes. */
int slt_tokenizer_vocab_size(const slt_tokenizer *t);
/* The end-of-text id: 50256 for GPT-2, 256 for bytes. */
uint32_t slt_tokenizer_eot(const slt_tokenizer *t);
/* "gpt2" or "bytes". */
const char *slt_tokenizer_name(const slt_tokenizer *t);

/* A per-thread encoding workspace for t (t must outlive it). NULL with the error recorded. */
slt_tokenizer_state *slt_tokenizer_state_new(const slt_tokenizer *t);
/* Free; NULL is fine. */
void slt_tokenizer_state_free(slt_tokenizer_state *s);

/* Encode text[0..len) (any bytes) and append the ids to out. st: a state made for t, or NULL
 * (a temporary state is made: slower, for one-off calls). flags: 0 or SLT_TOK_ALLOW_EOT. 0, or -1
 * with the error recorded (out of memory, a regex failure); out then holds a partial result. */
int slt_tokenizer_encode(const slt_tokenizer *t, slt_tokenizer_state *st, const char *text,
                         size_t len, int flags, slt_tokens *out);
/* Decode ids[0..n) and append the bytes to out. -1 (error names the id) if an id is out of range.
 */
int slt_tokenizer_decode(const slt_tokenizer *t, const uint32_t *ids, int64_t n, slt_bytebuf *out);

/* Append one id; 0, or -1 (error recorded) when out of memory. */
int slt_tokens_push(slt_tokens *b, uint32_t id);
/* Make room for at least extra more ids; 0 or -1. */
int slt_tokens_reserve(slt_tokens *b, int64_t extra);
/* Free the ids and zero the buffer. */
void slt_tokens_free(slt_tokens *b);
/* Make room for at least extra more bytes; 0 or -1. */
int slt_bytebuf_reserve(slt_bytebuf *b, int64_t extra);
/* Free the bytes and zero the buffer. */
void slt_bytebuf_free(slt_bytebuf *b);

#endif
