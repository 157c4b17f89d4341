"""The program lemu starts for `Runtime: python3.x` functions (`python3 bootstrap.py`).

The runtime itself is the module next to this file, lemu_runtime.py. It is imported rather than
run as the script so that Python keeps its compiled form in __pycache__: a script is compiled on
every start, and compiling lemu_runtime's ~600 lines was ~8 ms of every cold start.
"""
import lemu_runtime

lemu_runtime.main()
