"""The sharing hub: pools the stores' blacklists and serves the consensus feed."""
