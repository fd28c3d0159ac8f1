"""A stand-in for the one scikit-learn function the PyTorch pilot uses (`roc_auc_score`), put on
PYTHONPATH by run.sh only when scikit-learn is not installed on the GPU machine."""
