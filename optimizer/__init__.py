"""wattfolio's planning side: instances, actions, the MIP, CVaR cuts, CLI and report."""
