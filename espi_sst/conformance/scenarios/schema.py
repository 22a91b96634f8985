"""(schema scenarios: being written.)"""
