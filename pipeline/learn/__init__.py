"""Model-file plumbing shared by the learned change and detection methods.

:mod:`pipeline.learn.trees` stores scikit-learn's gradient-boosted trees as
plain JSON numbers (never pickles); :mod:`pipeline.learn.modelfile` reads model
files and checks their format tag and version with errors that name the file.
"""
