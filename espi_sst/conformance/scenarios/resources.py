"""(resources scenarios: being written.)"""
