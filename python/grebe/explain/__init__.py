"""grebe.explain — why a model predicts what it predicts, for every model grebe trains.

    saliency(model, x, target)               |d score / d input| (Simonyan et al. 2014)
    input_x_gradient(model, x, target)       input * gradient
    smoothgrad(model, x, target, samples, noise, method=...)   (Smilkov et al. 2017)
    integrated_gradients(model, x, target, baseline, steps, method, return_delta, layer)
                                             (Sundararajan et al. 2017)
    grad_cam(model, x, target, layer)        (Selvaraju et al. 2017) -> (upsampled, raw)
    occlusion(model, x, target, window, strides, baseline)     (Zeiler & Fergus 2014)
    activations(model, x, layers)            feature maps: {layer name: output}
    plot / save_png / plot_feature_maps      pictures (matplotlib: grebe[plot])

`target` is None (the predicted class), one int for all samples, or one int per sample. Results
are numpy arrays. Models run in inference mode; their weights get no gradients.
"""
from grebe.explain.cam import grad_cam
from grebe.explain.features import activations
from grebe.explain.gradients import (input_x_gradient, integrated_gradients, saliency,
                                     smoothgrad)
from grebe.explain.occlusion import occlusion
from grebe.explain.plot import plot, plot_feature_maps, save_png

__all__ = ["saliency", "input_x_gradient", "smoothgrad", "integrated_gradients", "grad_cam",
           "occlusion", "activations", "plot", "plot_feature_maps", "save_png"]
