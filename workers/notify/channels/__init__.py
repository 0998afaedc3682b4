"""One module per channel behind `base`'s interface; `http` is the retrying poster the webhook channels share."""
