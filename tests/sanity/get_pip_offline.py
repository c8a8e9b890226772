# Offline replacement for the pip bootstrap script ansible-test downloads on first use
# (scripts/sanity.sh puts it at ~/.ansible/test/cache/get_pip_25_2.py when that is missing).
# It bootstraps the pip bundled with the standard library, then runs the requested
# `pip install ...` against the configured package index.
import ensurepip
import os
import runpy
import sys

environment = dict(os.environ)
ensurepip.bootstrap(upgrade=False)
# ensurepip sets PIP_CONFIG_FILE=/dev/null, which would drop the index configuration.
os.environ.clear()
os.environ.update(environment)
arguments = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel', 'install')]
sys.argv = ['pip', 'install'] + arguments
runpy.run_module('pip', run_name='__main__', alter_sys=True)
