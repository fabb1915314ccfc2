"""Catalog: Naver stores, products and image banners, Instagram posts, and the links between them."""
