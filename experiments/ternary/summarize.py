"""Tables and plot of the ternary experiment: reads each run's DONE line (JSON) under RUNS,
writes OUT/results_table.md (included in results.md by hand) and OUT/ternary.png (gnuplot)."""
import glob, json, os, subprocess, sys

runs, out = sys.argv[1], sys.argv[2]
UNIGRAM = 3.2039  # experiments/tools/unigram.py on the val shard (bytes, 257 symbols)


def load(sweep):
    """{size_key: [run dicts]} of one sweep, keyed by d_model."""
    by = {}
    for f in sorted(glob.glob(os.path.join(runs, sweep, '*', 'DONE'))):
        r = json.loads(open(f).read())
        if r.get('status') != 'done':
            continue
        by.setdefault(r.get('model.d_model', 128), []).append(r)
    return by


def stat(rs):
    v = [r['val_loss'] for r in rs]
    m = sum(v) / len(v)
    return m, (max(v) - min(v)) / 2, v


methods = [('floatlm', 'FloatLM'), ('trilm', 'TriLM'), ('bitnet', 'BitNet b1.58')]
data = {m: load(m) for m, _ in methods}
lines = ['| d_model | non-emb. params | FLOPs/token | ' + ' | '.join(
    f'{n} val (±½range) [seeds]' for _, n in methods) + ' | TriLM − Float | BitNet − Float |',
    '|---|---|---|' + '---|' * (len(methods) + 2)]
dat = open(os.path.join(out, 'ternary_params.dat'), 'w')
for d in sorted(data['floatlm']):
    f = data['floatlm'][d][0]
    cells, means = [], {}
    for m, _ in methods:
        rs = data[m].get(d, [])
        if not rs:
            cells.append('—')
            continue
        mu, hr, v = stat(rs)
        means[m] = mu
        cells.append(f'{mu:.4f} ±{hr:.4f} [{", ".join(f"{x:.4f}" for x in v)}]')
        dat.write(f'{m} {rs[0]["params_nonembed"]} {rs[0]["flops"]:.6e} {mu:.5f} {hr:.5f}\n')
    gaps = [f'{means[m] - means["floatlm"]:+.4f}' if m in means and 'floatlm' in means else '—'
            for m in ('trilm', 'bitnet')]
    lines.append(f'| {d} | {f["params_nonembed"]} | {f["flops_per_token"]:.3e} | '
                 + ' | '.join(cells) + ' | ' + ' | '.join(gaps) + ' |')
dat.close()
lines += ['', f'Unigram val loss of the same shard: {UNIGRAM} nats.', '',
          '| run | non-emb. params | FFN params | FLOPs/token | steps | tokens | train FLOPs | val (±½range) [seeds] |',
          '|---|---|---|---|---|---|---|---|']
fl = open(os.path.join(out, 'ternary_flops.dat'), 'w')
for name, sweep, d in (('dense ternary (TriLM) d128', 'trilm', 128),
                       ('LowRank 32% + ternary (TriLM) d128', 'lowrank_trilm', 128)):
    rs = load(sweep).get(d, [])
    if not rs:
        continue
    r = rs[0]
    mu, hr, v = stat(rs)
    fl.write(f'"{name}" {r["flops"]:.6e} {mu:.5f} {hr:.5f}\n')
    lines.append(f'| {name} | {r["params_nonembed"]} | {r["params_ffn"]} | {r["flops_per_token"]:.3e} | '
                 f'{r["steps"]} | {r["tokens"]} | {r["flops"]:.3e} | {mu:.4f} ±{hr:.4f} '
                 f'[{", ".join(f"{x:.4f}" for x in v)}] |')
fl.close()
open(os.path.join(out, 'results_table.md'), 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))
gp = f"""set terminal pngcairo size 1200,480 font ',10'
set output '{out}/ternary.png'
set multiplot layout 1,2
set logscale x
set grid
set ylabel 'val loss (nats/byte)'
set xlabel 'non-embedding parameters'
set title 'tiny family, 614k training bytes, mean of 2 seeds (bars: ±½ range)'
set key top right
plot for [m in 'floatlm trilm bitnet'] '{out}/ternary_params.dat' using (stringcolumn(1) eq m ? $2 : 1/0):4:5 \\
     with yerrorlines title m
set xlabel 'training FLOPs'
set title 'val loss vs training FLOPs (LowRank 32% + ternary at d 128: square)'
plot for [m in 'floatlm trilm bitnet'] '{out}/ternary_params.dat' using (stringcolumn(1) eq m ? $3 : 1/0):4:5 \\
     with yerrorlines title m, \\
     '{out}/ternary_flops.dat' every ::1::1 using 2:3:4 with yerrorbars pt 5 ps 1.5 title 'LowRank32 + ternary'
unset multiplot
"""
subprocess.run(['gnuplot'], input=gp.encode(), check=True)
