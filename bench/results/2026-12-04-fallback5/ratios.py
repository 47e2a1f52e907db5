import re,sys,statistics as st
for d in sys.argv[1:]:
    rows=[l for l in open(d+'/cpu.txt')]
    R=[]; cur={}
    for l in rows:
        lab=l.split(':')[0]; ops=int(re.search(r'ops/s (\d+)',l).group(1))
        m=re.search(r'us/op client ([\d.]+) kelpd ([\d.]+) weed-volume ([\d.]+)',l)
        cur[lab]=(ops,float(m.group(1)),float(m.group(2)),float(m.group(3)))
        if lab.startswith('fallback 4k'): R.append(cur); cur={}
    print(d)
    for k in ['fallback-base 4k','fallback 4k']:
        cpu=[r[k][2]/r['http 4k'][1] for r in R]; ops=[r[k][0]/r['http 4k'][0] for r in R]
        print(f"  {k:18s} kelpd us {[r[k][2] for r in R]} med {st.median([r[k][2] for r in R]):.1f} | plain {[r['http 4k'][1] for r in R]} med {st.median([r['http 4k'][1] for r in R]):.1f} | cpu ratio {[round(x,2) for x in cpu]} med {st.median(cpu):.2f} | ops ratio {[round(x,2) for x in ops]} med {st.median(ops):.2f} | client us {[r[k][1] for r in R]} med {st.median([r[k][1] for r in R]):.1f} | weed {st.median([r[k][3] for r in R]):.1f} vs plain {st.median([r['http 4k'][3] for r in R]):.1f}")
