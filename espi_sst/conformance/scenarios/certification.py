"""(certification scenarios: being written.)"""
