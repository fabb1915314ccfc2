"""Banner images: good comments rendered with Pillow, stored by content, created as banners."""
