"""bundling"""
