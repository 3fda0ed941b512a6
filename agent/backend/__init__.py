"""The backend driver: the only part of the agent that talks to the seller backend (through Playwright)."""
