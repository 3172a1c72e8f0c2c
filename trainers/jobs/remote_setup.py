"""Run on an SSH host as `PYTHON - BASE CODE_DIR TAG` (script on stdin, stdlib only): make BASE/venv once
(`--system-site-packages`, so the host's torch is reused), point it at CODE_DIR and at the site-packages of PYTHON
itself (which may already be a venv), check that torch, numpy and safetensors import, and leave a marker."""

import json
import os
import site
import subprocess
import sys
import venv

base, code_dir, tag = sys.argv[1], sys.argv[2], sys.argv[3]
env_dir = os.path.join(base, "venv")
py = os.path.join(env_dir, "bin", "python")
if not os.path.exists(py):
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(env_dir)
out = subprocess.run([py, "-c", "import site, json; print(json.dumps(site.getsitepackages()))"],
                     capture_output=True, text=True, check=True)
target = json.loads(out.stdout)[0]
parents = [p for p in site.getsitepackages() + [site.getusersitepackages()] if os.path.isdir(p)]
pth = os.path.join(target, "trm_lab_code.pth")
tmp = pth + ".tmp"
with open(tmp, "w") as fh:
    fh.write("\n".join([code_dir, *parents]) + "\n")
os.replace(tmp, pth)
check = subprocess.run([py, "-c", "import torch, numpy, safetensors, trainers.jobs.agent; print(torch.__version__)"],
                       capture_output=True, text=True)
if check.returncode != 0:
    sys.stderr.write(f"{py} cannot import the training dependencies; install torch, numpy and safetensors for "
                     f"{sys.executable} (or set another python for this host):\n{check.stderr[-600:]}\n")
    sys.exit(3)
open(os.path.join(env_dir, f".trm-lab-{tag}"), "w").close()
print(json.dumps({"python": py, "torch": check.stdout.strip()}))
