"""relocation"""
