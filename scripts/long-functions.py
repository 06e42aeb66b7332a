#!/usr/bin/env python3
# Lists functions longer than N lines (default 120), counting every line from `fn` to its
# closing brace, blank and comment lines included (stricter than clippy::too_many_lines).
# Usage: python3 scripts/long-functions.py [N]
import re,sys,glob
N=int(sys.argv[1]) if len(sys.argv)>1 else 120
res=[]
for p in glob.glob('**/*.rs',recursive=True):
    if p.startswith('target'): continue
    lines=open(p).read().split('\n')
    i=0
    while i<len(lines):
        l=lines[i]
        m=re.match(r'\s*(pub(\([^)]*\))?\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)',l)
        if m:
            depth=0; started=False; j=i
            while j<len(lines):
                t=re.sub(r'"(\\.|[^"\\])*"','""',lines[j]); t=re.sub(r"'(\\.|[^'\\])'","''",t); t=t.split('//')[0]
                if ';' in t and not started and '{' not in t: break
                for ch in t:
                    if ch=='{': depth+=1; started=True
                    elif ch=='}': depth-=1
                if started and depth==0: break
                j+=1
            if started and j-i+1>N: res.append((j-i+1,p,i+1,m.group(5)))
        i+=1
for n,p,l,f in sorted(res,reverse=True): print(f"{n:5} {p}:{l} {f}")
