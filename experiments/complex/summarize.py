"""Tables and plot of the complex experiment: reads the runs' DONE lines (JSON) and the Fairy2i
eval files under RUNS, writes OUT/results_table.md and OUT/complex.png (gnuplot)."""
import glob, json, os, re, subprocess, sys

runs, out = sys.argv[1], sys.argv[2]
UNIGRAM = 3.2039


def done(pattern):
    rs = []
    for f in sorted(glob.glob(os.path.join(runs, pattern, 'DONE'))):
        r = json.loads(open(f).read())
        if r.get('status') == 'done':
            rs.append(r)
    return rs


def evalf(name):
    p = os.path.join(runs, 'complex', 'fairy2i', f'eval_{name}.txt')
    if not os.path.exists(p):
        return None
    m = re.search(r'val_loss=([0-9.]+)', open(p).read())
    return float(m.group(1)) if m else None


# Bits per block weight as stored packed: ternary in 2 bits (TQ2_0 / I2_S), {±1, ±i} in 2 bits.
rows = [('iFairy (64 complex dims, {±1,±i})', 'complex/ifairy/seed=*', 2, 'ifairy'),
        ('BitNet b1.58 (d 64, ternary)', 'ternary/bitnet/d_model=64,*', 2, 'bitnet'),
        ('FloatLM (d 64, same shape)', 'ternary/floatlm/d_model=64,*', 32, 'floatlm'),
        ('FloatLM (d 24, same memory in fp16)', 'complex/floatlm_eqmem/seed=*', 16, 'floatlm_eqmem')]
lines = ['| model | block weights (complex count as one) | bits/weight | block-weight KiB | '
         'val loss mean (±½range) [seed 1, 2] |', '|---|---|---|---|---|']
dat = open(os.path.join(out, 'complex_bars.dat'), 'w')
for i, (name, pat, bits, key) in enumerate(rows):
    rs = done(pat)
    if not rs:
        lines.append(f'| {name} | — | {bits} | — | (missing) |')
        continue
    r = rs[0]
    # Block weights (a complex weight counts once): 4 layers x (4 d^2 attention + 3 d·ffn
    # SwiGLU / gated relu^2), d and ffn in complex dims for iFairy.
    d, ff = (64, 176) if key != 'floatlm_eqmem' else (24, 64)
    nw = 4 * (4 * d * d + 3 * d * ff)
    v = [x['val_loss'] for x in rs]
    mu, hr = sum(v) / len(v), (max(v) - min(v)) / 2
    lines.append(f'| {name} | {nw} | {bits} | {nw * bits / 8 / 1024:.1f} | {mu:.4f} ±{hr:.4f} '
                 f'[{", ".join(f"{x:.4f}" for x in v)}] |')
    dat.write(f'{i} "{key}" {mu:.5f} {hr:.5f}\n')
fl, ex, ptq, qat = evalf('float'), evalf('exact'), evalf('ptq'), evalf('qat')
lines += ['', f'Unigram val loss: {UNIGRAM} nats. Block weights only: embeddings, head and norm '
          'gains are full precision in every model.', '',
          '| Fairy2i from FloatLM d 64 seed 1 | val loss (48 val batches) |', '|---|---|']
for name, v in (('FloatLM (source)', fl), ('Fairy2i converted, full precision', ex),
                ('Fairy2i + 2-stage PhaseQuant, no training (PTQ)', ptq),
                ('Fairy2i + 2-stage PhaseQuant after 200 QAT steps', qat)):
    lines.append(f'| {name} | {v:.7f} |' if v is not None else f'| {name} | (missing) |')
for i, (k, v) in enumerate((('float', fl), ('f2i_exact', ex), ('f2i_ptq', ptq), ('f2i_qat', qat))):
    if v is not None:
        dat.write(f'{i + 5} "{k}" {v:.5f} 0\n')
dat.close()
open(os.path.join(out, 'results_table.md'), 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))
gp = f"""set terminal pngcairo size 1000,480 font ',10' noenhanced
set output '{out}/complex.png'
set style fill solid 0.6
set boxwidth 0.7
set grid y
set ylabel 'val loss (nats/byte)'
set yrange [2.0:{max(3.3, min(ptq or 0, 4.0) + 0.1)}]
set xtics rotate by -30
set title 'd 64 tiny family, 614k training bytes (bars: mean of 2 seeds, ±½ range); Fairy2i: seed 1'
plot '{out}/complex_bars.dat' using 1:3:xtic(2) with boxes notitle, \\
     '' using 1:3:4 with yerrorbars pt 0 lc rgb 'black' notitle, \\
     {UNIGRAM} with lines dt 2 title 'unigram'
"""
subprocess.run(['gnuplot'], input=gp.encode(), check=True)
