"""The benchmark suite: realistic transposed-convolution layers.

The first fourteen are the project's reference suite (DCGAN, U-Net,
autoencoder, super-resolution, FCN, large kernels, dilation); the rest stress
what oneDNN-based frameworks handle less well: odd sizes, asymmetric strides,
float64, channels_first, a batch of one, tiny inputs, and more large
stride-1 kernels (deblurring, reconstruction). Shapes are channels-last
(x (N, h, w, Cin), kernel (kh, kw, Cout, Cin)); ``data_format`` says how the
layer is called.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    name: str
    x: tuple
    kernel: tuple
    strides: tuple
    padding: str
    dilation: tuple = (1, 1)
    dtype: str = "float32"
    data_format: str = "channels_last"

    @property
    def nominal_flops(self):
        """2 * N * h * w * Cin * Cout * kh * kw, the convention frameworks report."""
        n, h, w, cin = self.x
        kh, kw, cout, _ = self.kernel
        return 2 * n * h * w * cin * cout * kh * kw


SUITE = [
    Layer("dcgan1", (16, 4, 4, 512), (4, 4, 256, 512), (2, 2), "same"),
    Layer("dcgan2", (16, 8, 8, 256), (4, 4, 128, 256), (2, 2), "same"),
    Layer("dcgan3", (16, 16, 16, 128), (4, 4, 64, 128), (2, 2), "same"),
    Layer("dcgan4_rgb", (16, 32, 32, 64), (4, 4, 3, 64), (2, 2), "same"),
    Layer("unet_up1", (4, 32, 32, 256), (2, 2, 128, 256), (2, 2), "valid"),
    Layer("unet_up2", (4, 64, 64, 128), (2, 2, 64, 128), (2, 2), "valid"),
    Layer("ae_k3s2", (64, 7, 7, 64), (3, 3, 32, 64), (2, 2), "same"),
    Layer("ae_out", (64, 14, 14, 32), (3, 3, 1, 32), (2, 2), "same"),
    Layer("fsrcnn_x3", (4, 64, 64, 56), (9, 9, 1, 56), (3, 3), "same"),
    Layer("fcn32_up", (1, 16, 16, 21), (64, 64, 21, 21), (32, 32), "same"),
    Layer("large_k31_s1", (2, 64, 64, 8), (31, 31, 8, 8), (1, 1), "valid"),
    Layer("large_k15_s1", (2, 64, 64, 16), (15, 15, 16, 16), (1, 1), "same"),
    Layer("dilated_k3d2", (4, 32, 32, 64), (3, 3, 64, 64), (1, 1), "same", (2, 2)),
    Layer("single_img_k5", (1, 128, 128, 3), (5, 5, 3, 3), (1, 1), "same"),
    # Beyond the reference suite.
    Layer("odd_k3s2", (8, 13, 11, 48), (3, 3, 40, 48), (2, 2), "valid"),
    Layer("asym_s21", (4, 24, 20, 32), (4, 3, 32, 32), (2, 1), "same"),
    Layer("dcgan2_f64", (16, 8, 8, 256), (4, 4, 128, 256), (2, 2), "same", dtype="float64"),
    Layer("ae_k3s2_f64", (64, 7, 7, 64), (3, 3, 32, 64), (2, 2), "same", dtype="float64"),
    Layer("dcgan3_nchw", (16, 16, 16, 128), (4, 4, 64, 128), (2, 2), "same",
          data_format="channels_first"),
    Layer("n1_k4s2", (1, 32, 32, 64), (4, 4, 64, 64), (2, 2), "same"),
    Layer("tiny", (1, 4, 4, 8), (3, 3, 8, 8), (2, 2), "same"),
    # Large stride-1 kernels beyond the two of the reference suite.
    Layer("large_k21_c16", (2, 64, 64, 16), (21, 21, 16, 16), (1, 1), "same"),
    Layer("large_k25_c8", (1, 96, 96, 8), (25, 25, 8, 8), (1, 1), "same"),
    Layer("large_k15_c32", (1, 64, 64, 32), (15, 15, 32, 32), (1, 1), "same"),
    Layer("large_k17_valid", (2, 48, 48, 16), (17, 17, 16, 16), (1, 1), "valid"),
    Layer("large_k31_rgb", (1, 128, 128, 3), (31, 31, 3, 3), (1, 1), "same"),
    Layer("large_k33_gray", (1, 256, 256, 1), (33, 33, 1, 1), (1, 1), "same"),
]

# Realistic layers outside the suite (``python -m deconv bench --extra``):
# big single images, 1-4 output channels, odd "valid" sizes, N=1 with many
# channels, float64 stride 1, channels-first RGB, tiny, a 4x upsampler.
EXTRA = [
    Layer("big_img_k4s2", (1, 256, 256, 16), (4, 4, 16, 16), (2, 2), "same"),
    Layer("rgb_out_k4s2", (8, 64, 64, 32), (4, 4, 3, 32), (2, 2), "same"),
    Layer("gray_out_k5s2", (16, 28, 28, 16), (5, 5, 1, 16), (2, 2), "same"),
    Layer("odd_valid_k3s3", (4, 17, 23, 24), (3, 3, 12, 24), (3, 3), "valid"),
    Layer("n1_c512_k4s2", (1, 16, 16, 512), (4, 4, 256, 512), (2, 2), "same"),
    Layer("f64_k3s1", (4, 32, 32, 32), (3, 3, 32, 32), (1, 1), "same", dtype="float64"),
    Layer("nchw_rgb_k4s2", (8, 32, 32, 64), (4, 4, 3, 64), (2, 2), "same",
          data_format="channels_first"),
    Layer("tiny_k2s2", (1, 2, 2, 4), (2, 2, 4, 4), (2, 2), "valid"),
    Layer("sr_x4_k8", (2, 48, 48, 32), (8, 8, 3, 32), (4, 4), "same"),
    Layer("c4_k9s1", (1, 128, 128, 4), (9, 9, 4, 4), (1, 1), "same"),
]
