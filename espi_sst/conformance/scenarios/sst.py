"""(sst scenarios: being written.)"""
