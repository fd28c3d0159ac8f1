//! What the experiment's readings of CLLM2 rely on: fine-tuning with the decoder frozen
//! changes the encoder and leaves the decoder's weights as they were, and fitting codes
//! through a frozen decoder lowers the restoration loss without touching the model.

use crate::common;

use burn::module::Module;
use burn::tensor::Tensor;
use cllm_autoencoder::code_fit::{fit_codes, CodeFitOptions};
use cllm_autoencoder::{train, AutoencoderError, Cllm, CpuTrainBackend, RunControl};

/// Every parameter of a module, flattened, in visiting order.
fn weights<M: Module<CpuTrainBackend>>(m: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl burn::module::ModuleVisitor<CpuTrainBackend> for Collect {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<Tensor<CpuTrainBackend, D>>,
        ) {
            self.0.extend(
                param
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .unwrap(),
            );
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

#[test]
fn a_frozen_decoder_keeps_its_weights_while_the_encoder_learns() {
    let _guard = common::serial();
    let data = common::data(16, 3);
    let device = Default::default();
    let base_dir = tempfile::tempdir().unwrap();
    let opts = common::quiet_options();
    let base = train::<CpuTrainBackend>(
        &data,
        &opts,
        base_dir.path(),
        &device,
        &RunControl::default(),
    )
    .unwrap();

    let mut ft = common::quiet_options();
    ft.init_from = Some(base.model_dir.clone());
    ft.freeze_decoder = true;
    ft.learning_rate = 1e-2;
    let ft_dir = tempfile::tempdir().unwrap();
    let tuned =
        train::<CpuTrainBackend>(&data, &ft, ft_dir.path(), &device, &RunControl::default())
            .unwrap();

    let before = Cllm::<CpuTrainBackend>::load(&base.model_dir, &device).unwrap();
    let after = Cllm::<CpuTrainBackend>::load(&tuned.model_dir, &device).unwrap();
    assert_eq!(
        weights(&before.model().decoder),
        weights(&after.model().decoder),
        "the decoder moved"
    );
    assert_eq!(
        weights(&before.model().log_scale),
        weights(&after.model().log_scale)
    );
    assert_ne!(
        weights(&before.model().to_latent),
        weights(&after.model().to_latent),
        "the encoder did not learn"
    );
    // freezing needs a decoder to keep
    let mut bad = common::quiet_options();
    bad.freeze_decoder = true;
    let dir = tempfile::tempdir().unwrap();
    let err = train::<CpuTrainBackend>(&data, &bad, dir.path(), &device, &RunControl::default())
        .unwrap_err();
    assert!(matches!(err, AutoencoderError::InvalidConfig(_)), "{err}");
}

#[test]
fn fitting_codes_lowers_the_restoration_loss_and_leaves_the_model_alone() {
    let _guard = common::serial();
    let data = common::data(12, 4);
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = common::quiet_options();
    opts.max_steps = 40;
    let report =
        train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &RunControl::default())
            .unwrap();
    let cllm = Cllm::<CpuTrainBackend>::load(&report.model_dir, &device).unwrap();
    let ids: Vec<Vec<u32>> = data.cache.texts.iter().map(|t| t.ids.clone()).collect();
    let start: Vec<Vec<f32>> = cllm
        .encode_ids(&ids)
        .unwrap()
        .iter()
        .map(|v| v.as_slice().to_vec())
        .collect();
    let model_before = weights(cllm.model());
    let fit = CodeFitOptions {
        steps: 100,
        learning_rate: 0.1,
        batch: 5,
    };
    let fitted = fit_codes(&cllm, &ids, &start, &fit).unwrap();
    assert_eq!(fitted.codes.len(), ids.len());
    assert!(
        fitted.last_loss < fitted.first_loss,
        "loss {} -> {}",
        fitted.first_loss,
        fitted.last_loss
    );
    assert_ne!(fitted.codes, start);
    assert_eq!(
        weights(cllm.model()),
        model_before,
        "fitting changed the model"
    );
    // from uninformative (zero) codes, fitting recovers most of what the encoder's codes
    // carry: it closes at least half of the gap between the zero codes' loss and theirs
    let zeros = vec![vec![0.0; start[0].len()]; ids.len()];
    let from_zero = fit_codes(&cllm, &ids, &zeros, &fit).unwrap();
    let gap = from_zero.first_loss - fitted.first_loss;
    eprintln!(
        "zero codes {:.4} -> {:.4}; encoder codes {:.4} -> {:.4}",
        from_zero.first_loss, from_zero.last_loss, fitted.first_loss, fitted.last_loss
    );
    assert!(gap > 0.05, "the encoder's codes carry nothing: {gap}");
    assert!(
        from_zero.last_loss < from_zero.first_loss - 0.5 * gap,
        "zero codes {} -> {}",
        from_zero.first_loss,
        from_zero.last_loss
    );

    // typed errors: a code per text, of k floats, finite
    let e = fit_codes(&cllm, &ids, &start[1..], &fit).unwrap_err();
    assert!(matches!(e, AutoencoderError::InvalidConfig(_)), "{e}");
    let mut nan = start.clone();
    nan[0][0] = f32::NAN;
    assert!(fit_codes(&cllm, &ids, &nan, &fit).is_err());
    assert!(fit_codes(&cllm, &[], &[], &fit).is_err());
}
