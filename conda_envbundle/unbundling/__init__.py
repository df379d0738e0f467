"""unbundling"""
