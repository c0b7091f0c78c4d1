"""Entry point of the built-in explainers (the torch ones need the ``deep`` extra)."""

from ferengine import hookimpl


@hookimpl
def ferengine_register_explainers():
    """Register the explainers (torch and Captum are imported only when one explains)."""
    from ferengine_explain.activation_max import ActivationMax
    from ferengine_explain.features import FeatureView, FeatureWeights, Importances
    from ferengine_explain.gradients import GradCAM, IntegratedGradients, Saliency
    from ferengine_explain.occlusion import Occlusion

    return [
        Occlusion, GradCAM, IntegratedGradients, Saliency, ActivationMax,
        FeatureView, FeatureWeights, Importances,
    ]  # fmt: skip
