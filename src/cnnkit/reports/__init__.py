"""What explain and attack invocations write for a reader: output folders, pages and JSON results.

``pages`` holds the folder and page every invocation shares; ``attacks`` computes and writes
the attack command's studies (robustness curves, destruction rates, universal perturbations);
``attribution``, ``synthesis`` and ``landscape`` compute and write the pages of ``cnnkit explain``,
one function per command.
The training report is drawn by ``cnnkit.train.report``, which the classification Task calls.
"""
