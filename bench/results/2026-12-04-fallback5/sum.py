import json,sys,glob,re,os
d=sys.argv[1]
def stat(f):
    r={}
    for l in open(f):
        m=re.match(r'\s*(kelp-lcore0-\d+|kelpd-\d+)?\s*([\d,.]+)\s+(msec task-clock|context-switches|syscalls:sys_enter_(\w+))',l)
        if m:
            th=m.group(1).rsplit('-',1)[0] if m.group(1) else ''
            k=m.group(4) or m.group(3).split()[-1]
            r[(th,k)]=float(m.group(2).replace(',',''))
    return r
for jf in sorted(glob.glob(d+'/*.json')):
    b=os.path.basename(jf)[:-5]; j=json.load(open(jf)); ops=j['ops']
    if b.startswith('plain'):
        s=stat(d+'/'+b+'.txt'); 
        print(f"{b:24s} ops/s {int(j['ops_per_sec']):6d} client us/op {s[('','task-clock')]*1000/ops:5.1f} cs/op {s[('','context-switches')]/ops:.2f}")
    else:
        tag=b[3:]; k=stat(d+'/kelpd-'+tag+'.txt'); c=stat(d+'/client-'+tag+'.txt')
        L='kelp-lcore0'
        print(f"{b:24s} ops/s {int(j['ops_per_sec']):6d} lcore us/op {k[(L,'task-clock')]*1000/ops:5.1f} ctl {k[('kelpd','task-clock')]*1000/ops:4.1f} cs {k[(L,'context-switches')]/ops:.2f} epoll {k[(L,'epoll_wait')]/ops:.2f} futex {k[(L,'futex')]/ops:.2f} uring {k[(L,'io_uring_enter')]/ops:.2f} | client us/op {c[('','task-clock')]*1000/ops:5.1f} doorbell {c[('','write')]/ops:.2f} waits {c[('','futex')]/ops:.2f}")
