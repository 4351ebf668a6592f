"""Worker side: dramatiq actors that send batches through a provider, under limits."""
