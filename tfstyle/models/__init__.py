"""Networks: the VGG19 AdaIN teacher and the MobileNetV2 student."""
