//! placeholder: being written
pub fn render(_frame: &mut ratatui::Frame, _state: &crate::core::state::State) {}
