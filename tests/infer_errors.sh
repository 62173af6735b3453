#!/usr/bin/env bash
# slt eval and slt generate on valid checkpoints given data, prompts and tokenizers that do not
# fit them: each gives exactly one clear error line naming the flag or file and a non-zero exit,
# never a crash, a quiet shortfall or undecodable output; and the fitting edge cases work.
# usage: infer_errors.sh SLT_BINARY
set -u
# shellcheck source=expect.sh
source "$(dirname "$0")/expect.sh" # slt, dir, cfg; expect; passes, fails

# works NAME STDERR ARGS...: exit 0, something on stdout, and stderr exactly STDERR's lines
# (each a substring of its line; "" = stderr empty)
works() {
  local name=$1 want=$2
  shift 2
  "$slt" "$@" >"$dir/out" 2>"$dir/err"
  local rc=$? ok=1
  if [[ $rc -ne 0 || ! -s "$dir/out" ]]; then
    ok=0
  elif [[ -z $want ]]; then
    [[ -s "$dir/err" ]] && ok=0
  elif [[ $(wc -l <"$dir/err") -ne 1 ]] || ! grep -qF -- "$want" "$dir/err"; then
    ok=0
  fi
  if [[ $ok -eq 0 ]]; then
    echo "FAIL $name: exit $rc, stdout $(wc -c <"$dir/out") bytes, wanted stderr '$want':"
    sed 's/^/    /' "$dir/err" | head -5
    fails=$((fails + 1))
  else
    echo "ok   $name"
    passes=$((passes + 1))
  fi
}

# same NAME ARGS_A -- ARGS_B: both exit 0 with the same stdout
same() {
  local name=$1 a=() b=()
  shift
  while [[ $1 != -- ]]; do a+=("$1") && shift; done
  shift
  b=("$@")
  if "$slt" "${a[@]}" >"$dir/a" 2>/dev/null && "$slt" "${b[@]}" >"$dir/b" 2>/dev/null &&
    cmp -s "$dir/a" "$dir/b"; then
    echo "ok   $name: $(head -c 60 "$dir/a")"
    passes=$((passes + 1))
  else
    echo "FAIL $name: '$(head -c 100 "$dir/a")' vs '$(head -c 100 "$dir/b")'"
    fails=$((fails + 1))
  fi
}

# shard PATH WIDTH(2|4) TOKEN...: an llm.c-format shard (256 int32 header, then the tokens)
shard() {
  local path=$1 width=$2 magic=20240520 version=1 out="" esc i v
  shift 2
  [[ $width -eq 4 ]] && magic=20240801 version=7
  le() { # append $1 as $2 little-endian bytes to out
    for ((i = 0; i < $2; i++)); do
      printf -v esc '\\%03o' $((($1 >> (8 * i)) & 255))
      out+=$esc
    done
  }
  le $magic 4
  le $version 4
  le $# 4
  printf "$out" >"$path"
  head -c $((1024 - 12)) /dev/zero >>"$path"
  out=""
  for v in "$@"; do le "$v" "$width"; done
  printf "$out" >>"$path"
}

# Tiny two-step checkpoints: vocab 16 with RoPE (seq_len 16), the same with learned positions,
# and vocab 320 (bytes' 257 ids padded, as GPT-2's 50257 are to 50304).
tiny=(train "$cfg" train.steps=2 train.eval_every=0 train.threads=2 model.seq_len=16 model.layers=1
  model.d_model=32 train.micro_batch=2)
"$slt" "${tiny[@]}" "out_dir=$dir/rope" >/dev/null 2>&1
"$slt" "${tiny[@]}" "out_dir=$dir/learned" model.pos=learned >/dev/null 2>&1
"$slt" "${tiny[@]}" "out_dir=$dir/v320" model.vocab_size=320 >/dev/null 2>&1
rope="$dir/rope/ckpt_00000002.h5"
learned="$dir/learned/ckpt_00000002.h5"
v320="$dir/v320/ckpt_00000002.h5"
for f in "$rope" "$learned" "$v320"; do
  [[ -f $f ]] || { echo "FAIL setup: no checkpoint $f" && exit 1; }
done

# ---- eval: shards that do not fit the checkpoint (vocab 16, rows of 17 tokens) ----
mapfile -t ok < <(for ((k = 0; k < 70; k++)); do echo $((k * 7 % 16)); done)
shard "$dir/ok.bin" 2 "${ok[@]}"         # 70 tokens: 4 rows of 17, 2 batches of 2
shard "$dir/big16.bin" 2 "${ok[@]}" 300  # uint16, an id past the vocabulary
shard "$dir/big32.bin" 4 "${ok[@]}" 70000 # uint32, an id past uint16 too
shard "$dir/short.bin" 2 1 2 3 4 5       # no full row
ev=(eval --threads 2 --ckpt "$rope")
works "eval fitting shard" "" "${ev[@]}" --data "$dir/ok.bin"
works "eval --batches all there is" "" "${ev[@]}" --data "$dir/ok.bin" --batches 2 --batch 2
expect "eval --batches beyond the data" "--batches 3: $dir/ok.bin holds only 2 batches" \
  "${ev[@]}" --data "$dir/ok.bin" --batches 3 --batch 2
expect "eval uint16 id beyond the vocab" "big16.bin" "${ev[@]}" --data "$dir/big16.bin"
expect "eval uint32 id beyond the vocab" "big32.bin" "${ev[@]}" --data "$dir/big32.bin"
expect "eval shard shorter than a row" "short.bin" "${ev[@]}" --data "$dir/short.bin"
expect "eval glob matching nothing" "nothing_*.bin" "${ev[@]}" --data "$dir/nothing_*.bin"

# ---- generate: prompts and flags that do not fit the checkpoint ----
gen=(generate --threads 2 --ckpt)
p16=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,0
expect "prompt id = vocab" "--prompt-ids: bad id near '16'" "${gen[@]}" "$rope" --prompt-ids 1,16 \
  --tokens 1
expect "negative prompt id" "--prompt-ids: bad id near '-1'" "${gen[@]}" "$rope" --prompt-ids -1 \
  --tokens 1
works "learned positions: full prompt + 1 token" "" "${gen[@]}" "$learned" --prompt-ids $p16 \
  --tokens 1
works "learned positions: 1 + 16 tokens" "" "${gen[@]}" "$learned" --prompt-ids 1 --tokens 16
expect "learned positions: prompt past seq_len" "--prompt-ids: 17 tokens, more than the model's 16" \
  "${gen[@]}" "$learned" --prompt-ids $p16,1 --tokens 1
expect "learned positions: --tokens past seq_len" "--tokens 17: the model's 16 learned positions" \
  "${gen[@]}" "$learned" --prompt-ids 1 --tokens 17
works "rope up to seq_len: no note" "" "${gen[@]}" "$rope" --prompt-ids $p16 --tokens 1
works "rope past seq_len: one note" "positions 16..19 run past the model's seq_len 16" \
  "${gen[@]}" "$rope" --prompt-ids $p16 --tokens 5
expect "--top-k beyond the vocab" "--top-k 17: the model's vocabulary has only 16" \
  "${gen[@]}" "$rope" --prompt-ids 1 --tokens 1 --top-k 17
works "--top-k = vocab" "" "${gen[@]}" "$rope" --prompt-ids 1 --tokens 1 --top-k 16
same "--temperature 1e-30 is greedy" "${gen[@]}" "$rope" --prompt-ids 1 --tokens 12 \
  --temperature 1e-30 -- "${gen[@]}" "$rope" --prompt-ids 1 --tokens 12 --temperature 0
same "--ffn-form merged on a dense model" "${gen[@]}" "$rope" --prompt-ids 1 --tokens 12 \
  --ffn-form merged -- "${gen[@]}" "$rope" --prompt-ids 1 --tokens 12

# ---- generate: tokenizers that do not fit the checkpoint ----
expect "bytes prompt on a 16-id model" "--prompt: --tokenizer bytes gives token 104" \
  "${gen[@]}" "$rope" --prompt hello --tokenizer bytes --tokens 1
expect "--tokenizer-dir with bytes" "--tokenizer-dir goes with --tokenizer gpt2" \
  "${gen[@]}" "$v320" --prompt hello --tokenizer bytes --tokenizer-dir "$dir" --tokens 1
expect "gpt2 without --tokenizer-dir" "gpt2 tokenizer needs a directory" \
  "${gen[@]}" "$v320" --prompt hello --tokens 1
expect "gpt2 with a missing --tokenizer-dir" "$dir/none" \
  "${gen[@]}" "$v320" --prompt hello --tokenizer-dir "$dir/none" --tokens 1
expect "gpt2 with a directory lacking its files" "$dir/rope" \
  "${gen[@]}" "$v320" --prompt hello --tokenizer-dir "$dir/rope" --tokens 1
# The padded ids 257..319 are never sampled: every token decodes (seed 1 drew one before).
for seed in 1 2 3; do
  works "bytes on a padded vocab (seed $seed)" "" "${gen[@]}" "$v320" --prompt hello \
    --tokenizer bytes --tokens 11 --seed $seed
done

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
