"""The legal working-day calendar: China's public holidays and make-up working days."""
